import PerfLog

/// Text for people: durations and sizes with readable units, aligned columns.
enum HumanFormat {
    /// A duration in readable units (``ReadableDuration``): `850 ns`, `12.5 µs`,
    /// `812.4 ms`, `12.35 s`, `3m 12.4s`, `1h 02m 03s`.
    static func duration(nanoseconds ns: UInt64) -> String { ReadableDuration.text(nanoseconds: ns) }

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

    /// `value` (not negative) with exactly `digits` decimals, rounded half away from zero.
    static func fixed(_ value: Double, digits: Int) -> String { ReadableDuration.fixed(value, digits: digits) }

    /// A stream's name for a message: `agent/cli`, each name quoted (`' planner '`)
    /// when it begins or ends with white space or holds a slash, which would otherwise
    /// hide where it ends; control characters made visible.
    static func stream(_ s: StreamName) -> String { name(s.agent) + "/" + name(s.cli) }

    /// One agent or CLI name as ``stream(_:)`` shows it.
    static func name(_ text: String) -> String {
        let blank: (Character?) -> Bool = { $0?.isWhitespace ?? false }
        let quoted = blank(text.first) || blank(text.last) || text.contains("/")
        return Terminal.oneLine(quoted ? "'" + text + "'" : text)
    }

    /// Pads `text` with spaces to `width` characters, on the right (`left` alignment)
    /// or on the left.
    static func pad(_ text: String, _ width: Int, alignRight: Bool = false) -> String {
        let missing = width - text.count
        guard missing > 0 else { return text }
        let spaces = String(repeating: " ", count: missing)
        return alignRight ? spaces + text : text + spaces
    }
}
