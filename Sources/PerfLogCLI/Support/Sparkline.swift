import PerfLog

/// A one-line picture of a stream's window: `▁▂▃▄▅▆▇█`, oldest measure on the left
/// (`_.-=#` and `x` where the output is ASCII).
///
/// A window of up to ``width`` measures gets one character each; a longer one is cut
/// into ``width`` consecutive slots of (nearly) equal size, each drawn at the mean of
/// its successful durations. Heights are scaled linearly between the lowest and the
/// highest slot of this stream, so the line shows the shape of one stream's history, not
/// a comparison between streams. A slot where every run failed is ``failed``.
enum Sparkline {
    /// How many characters a sparkline has at most.
    static let width = 16
    /// The bars, lowest first.
    static let bars: [Character] = ["▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"]
    /// A slot whose runs all failed (a fast crash is not a fast run).
    static let failed: Character = "×"
    /// The bars where the output is ASCII, lowest first.
    static let asciiBars: [Character] = ["_", ".", "-", "=", "#"]
    /// A failed slot where the output is ASCII.
    static let asciiFailed: Character = "x"

    /// The sparkline of `window` (measures, oldest first); empty for an empty window.
    /// - Parameter ascii: draw with ``asciiBars`` and ``asciiFailed``.
    static func render(_ window: [Event], ascii: Bool = false) -> String {
        let bars = ascii ? Self.asciiBars : Self.bars, failed = ascii ? Self.asciiFailed : Self.failed
        let measures = window.filter { $0.kind == .measure }
        let n = measures.count
        guard n > 0 else { return "" }
        let slots = min(width, n)
        var values: [Double?] = []
        values.reserveCapacity(slots)
        for slot in 0..<slots {
            var sum = 0.0, ok = 0
            for e in measures[(slot * n / slots)..<((slot + 1) * n / slots)] where e.outcome == .ok {
                sum += Double(e.durationNs)
                ok += 1
            }
            values.append(ok > 0 ? sum / Double(ok) : nil)
        }
        let present = values.compactMap { $0 }
        guard let low = present.min(), let high = present.max() else {
            return String(repeating: failed, count: slots)
        }
        var out = ""
        for value in values {
            guard let value else { out.append(failed); continue }
            // Equal heights say "steady", so a flat stream sits in the middle.
            let level = high > low ? Int(((value - low) / (high - low) * Double(bars.count - 1)).rounded()) : (bars.count - 1) / 2
            out.append(bars[level])
        }
        return out
    }
}
