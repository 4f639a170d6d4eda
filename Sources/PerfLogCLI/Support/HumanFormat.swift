import PerfLog

/// Text for people: durations and sizes with readable units, aligned columns.
enum HumanFormat {
    /// A duration with a unit chosen for its size and about four significant digits:
    /// `850 ns`, `12.5 µs`, `812.4 ms`, `12.35 s`, `3m 12.4s`, `1h 02m 03s`.
    static func duration(nanoseconds ns: UInt64) -> String {
        let value = Double(ns)
        switch ns {
        case ..<1_000: return "\(ns) ns"
        case ..<1_000_000: return fixed(value / 1e3, digits: value < 1e5 ? 1 : 0) + " µs"
        case ..<1_000_000_000: return fixed(value / 1e6, digits: value < 1e8 ? 2 : 1) + " ms"
        case ..<60_000_000_000: return fixed(value / 1e9, digits: 2) + " s"
        case ..<3_600_000_000_000:
            let seconds = value / 1e9
            let minutes = Int(seconds / 60)
            return "\(minutes)m " + fixed(seconds - Double(minutes * 60), digits: 1) + "s"
        default:
            let seconds = ns / 1_000_000_000
            return "\(seconds / 3600)h " + twoDigits(seconds / 60 % 60) + "m " + twoDigits(seconds % 60) + "s"
        }
    }

    /// A byte count in binary units: `512 bytes`, `1.2 KiB`, `64.0 MiB`.
    static func bytes(_ count: Int) -> String {
        if count < 1024 { return "\(count) bytes" }
        let units = ["KiB", "MiB", "GiB", "TiB", "PiB"]
        var value = Double(count) / 1024
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return fixed(value, digits: 1) + " " + units[unit]
    }

    /// `value` with exactly `digits` decimals, rounded half away from zero; `value` is
    /// not negative.
    static func fixed(_ value: Double, digits: Int) -> String {
        var scale: UInt64 = 1
        for _ in 0..<digits { scale *= 10 }
        let scaled = UInt64((value * Double(scale)).rounded())
        guard digits > 0 else { return String(scaled) }
        let fraction = String(scaled % scale)
        return "\(scaled / scale)." + String(repeating: "0", count: digits - fraction.count) + fraction
    }

    private static func twoDigits(_ v: UInt64) -> String { v < 10 ? "0\(v)" : "\(v)" }

    /// Pads `text` with spaces to `width` characters, on the right (`left` alignment)
    /// or on the left.
    static func pad(_ text: String, _ width: Int, alignRight: Bool = false) -> String {
        let missing = width - text.count
        guard missing > 0 else { return text }
        let spaces = String(repeating: " ", count: missing)
        return alignRight ? spaces + text : text + spaces
    }
}

/// Renders events as aligned rows for `perflog tail`.
///
/// Column widths only grow, so that while following, rows printed in later batches line
/// up with the earlier ones as long as the names fit.
struct EventTable {
    static let headers = ["TIME (UTC)", "AGENT", "CLI", "KIND", "DURATION", "OUTCOME"]
    private var widths = EventTable.headers.map(\.count)
    private var printedHeader = false

    /// The rows for `events`, each ending in a newline, preceded by the header line the
    /// first time rows are rendered; empty when `events` is.
    mutating func render(_ events: [Event]) -> String {
        guard !events.isEmpty else { return "" }
        let rows = events.map(EventTable.cells)
        for row in rows {
            for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) }
        }
        var out = ""
        if !printedHeader {
            out += line(EventTable.headers)
            printedHeader = true
        }
        for row in rows { out += line(row) }
        return out
    }

    private func line(_ cells: [String]) -> String {
        var parts: [String] = []
        for (i, cell) in cells.enumerated() {
            // The last column is not padded: trailing spaces help nobody.
            if i == cells.count - 1 { parts.append(cell); break }
            parts.append(HumanFormat.pad(cell, widths[i], alignRight: i == 4))
        }
        return parts.joined(separator: "  ") + "\n"
    }

    private static func cells(_ e: Event) -> [String] {
        let time = Timestamp.iso8601(unixNanoseconds: e.wallTimeNs, precision: .milliseconds)
        switch e.kind {
        case .mark:
            return [time, e.stream.agent, e.stream.cli, "mark", "-", "in flight"]
        case .measure:
            var outcome = e.outcome.rawValue
            if let code = e.exitCode, !(e.outcome == .ok && code == 0) { outcome += " (exit \(code))" }
            return [time, e.stream.agent, e.stream.cli, "measure", HumanFormat.duration(nanoseconds: e.durationNs), outcome]
        }
    }
}
