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
