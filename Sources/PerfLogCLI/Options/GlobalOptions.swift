/// The options that may come before the subcommand, as git's do (`perflog --log L tail`):
/// `--log`, `--wait`, `--json` and `--color`. They belong to the subcommands (each
/// declares those it takes), so the command line is rewritten with them moved to just
/// after the subcommand's name, where ArgumentParser reads them; a subcommand that does
/// not take one says so as for any unknown option.
enum GlobalOptions {
    // Arrays, not sets: every start reads these, and a `Set<String>` made the runtime
    // search the whole binary for String's Hashable conformance first.
    /// The options that take a value.
    static let valued = ["--log", "--wait", "--color"]
    /// The flags.
    static let flags = ["--json"]

    /// The number of leading arguments that are global options and their values:
    /// `--log PATH`, `--log=PATH`, `--json`, … up to the first other argument.
    static func leadingCount<S: StringProtocol>(_ arguments: [S]) -> Int {
        var i = 0
        while i < arguments.count {
            let a = arguments[i]
            if flags.contains(String(a)) {
                i += 1
            } else if valued.contains(String(a)) {
                // A value must follow; without one, leave the error to the parser.
                guard i + 1 < arguments.count else { return i }
                i += 2
            } else if let equals = a.firstIndex(of: "="), valued.contains(String(a[..<equals])) {
                i += 1
            } else {
                break
            }
        }
        return i
    }

    /// `arguments` with the leading global options moved after the subcommand's name
    /// (the first argument after them); unchanged when there are none or nothing
    /// follows them.
    static func reordered(_ arguments: [String]) -> [String] {
        let n = leadingCount(arguments)
        guard n > 0, n < arguments.count, !arguments[n].hasPrefix("-") else { return arguments }
        return [arguments[n]] + arguments[..<n] + arguments[(n + 1)...]
    }
}
