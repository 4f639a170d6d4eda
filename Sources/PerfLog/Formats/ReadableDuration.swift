/// Durations as people read them, with a unit chosen for the size and about four
/// significant digits: `850 ns`, `12.5 µs`, `812.4 ms`, `12.35 s`, `3m 12.4s`,
/// `1h 02m 03s`.
///
/// One implementation for every human-facing text perflog makes of a duration: the
/// terminal's tables and the HTML report (whose live page repeats the rule in its
/// script, so that refreshed figures read the same).
package enum ReadableDuration {
    /// The units a duration axis is labelled in, smallest first: name and size in
    /// nanoseconds.
    package static let units: [(name: String, nanoseconds: Double)] = [
        ("ns", 1), ("µs", 1e3), ("ms", 1e6), ("s", 1e9), ("min", 60e9), ("h", 3600e9),
    ]

    /// The unit for a duration of `ns` nanoseconds: the largest not above it (`ns`
    /// below 1 µs is in ns; minutes from 60 s, hours from 60 min).
    package static func unit(for ns: Double) -> (name: String, nanoseconds: Double) {
        var chosen = units[0]
        for u in units where ns >= u.nanoseconds { chosen = u }
        return chosen
    }

    /// `ns` (rounded to whole nanoseconds; negative counts as 0) in readable units;
    /// `–` for a value that is not finite.
    package static func text(nanoseconds ns: Double) -> String {
        guard ns.isFinite else { return "–" }
        let whole = ns <= 0 ? 0 : ns >= 1.8e19 ? UInt64.max : UInt64(ns.rounded())
        return text(nanoseconds: whole)
    }

    /// `ns` nanoseconds in readable units.
    package static func text(nanoseconds ns: UInt64) -> String {
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

    private static func twoDigits(_ v: UInt64) -> String { v < 10 ? "0\(v)" : "\(v)" }

    /// `value` (not negative) with exactly `digits` decimals, halves away from zero.
    package static func fixed(_ value: Double, digits: Int) -> String {
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let scaled = (max(0, value) * scale).rounded(.toNearestOrAwayFromZero)
        guard scaled < 9.0e18 else { return String(value) }
        let n = UInt64(scaled), s = UInt64(scale)
        guard digits > 0 else { return String(n) }
        let fraction = String(n % s)
        return "\(n / s)." + String(repeating: "0", count: digits - fraction.count) + fraction
    }
}
