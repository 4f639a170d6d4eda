/// "Did you mean": the subcommand a mistyped name was most likely meant to be.
enum CommandSuggestion {
    /// A one-line message for a command line whose first word is not a subcommand
    /// (`perflog stat`), naming the closest ones; `nil` when the first word is one, is
    /// an option, or there is none.
    static func unknownCommand(_ arguments: [String], known: [String]) -> String? {
        guard let word = arguments.first, !word.hasPrefix("-"), !known.contains(word), word != "help" else { return nil }
        let close = suggestions(for: word, among: known)
        let shown = Terminal.oneLine(word)
        switch close.count {
        case 0: return "'\(shown)' is not a perflog command (see 'perflog --help' for the list)"
        case 1: return "'\(shown)' is not a perflog command; did you mean '\(close[0])'?"
        default: return "'\(shown)' is not a perflog command; did you mean one of \(close.map { "'\($0)'" }.joined(separator: ", "))?"
        }
    }

    /// The names within a small edit distance of `word` (at most 2, and less than half
    /// its length), or that it is a prefix of, closest first.
    static func suggestions(for word: String, among names: [String]) -> [String] {
        let lower = word.lowercased()
        let scored = names.compactMap { name -> (String, Int)? in
            if name.hasPrefix(lower) && lower.count >= 2 { return (name, 0) }
            let d = distance(lower, name)
            return d <= min(2, max(1, lower.count / 2)) ? (name, d) : nil
        }
        return scored.sorted { $0.1 != $1.1 ? $0.1 < $1.1 : $0.0 < $1.0 }.map(\.0)
    }

    /// The Damerau–Levenshtein distance (optimal string alignment) between `a` and `b`:
    /// insertions, deletions, substitutions and swaps of neighbours each cost 1.
    static func distance(_ a: String, _ b: String) -> Int {
        let x = Array(a), y = Array(b)
        guard !x.isEmpty else { return y.count }
        guard !y.isEmpty else { return x.count }
        var d = [[Int]](repeating: [Int](repeating: 0, count: y.count + 1), count: x.count + 1)
        for i in 0...x.count { d[i][0] = i }
        for j in 0...y.count { d[0][j] = j }
        for i in 1...x.count {
            for j in 1...y.count {
                let cost = x[i - 1] == y[j - 1] ? 0 : 1
                d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
                if i > 1 && j > 1 && x[i - 1] == y[j - 2] && x[i - 2] == y[j - 1] { d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1) }
            }
        }
        return d[x.count][y.count]
    }
}
