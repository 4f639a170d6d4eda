/// Durations as people read them, with a unit chosen for the size: `850 ns`, `12.50 µs`,
/// `812.4 ms`, `12.35 s`, `3.21 min`, `1.50 h`. Three or four significant digits.
///
/// One implementation for every human-facing text perflog makes of a duration: the
/// terminal's tables and the HTML report (whose live page repeats the rule in its
/// script, so that refreshed figures read the same).
package enum ReadableDuration {
    /// The units, smallest first: name and size in nanoseconds.
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

    /// `ns` (nanoseconds, not negative) in its own unit with two decimals below 100,
    /// one below 1000, none above; `–` for a value that is not finite.
    package static func text(nanoseconds ns: Double, ascii: Bool = false) -> String {
        guard ns.isFinite else { return ascii ? "-" : "–" }
        let u = unit(for: max(0, ns))
        return text(nanoseconds: ns, in: u, ascii: ascii)
    }

    /// `ns` in the unit `u`, with the decimals of ``text(nanoseconds:ascii:)``.
    package static func text(nanoseconds ns: Double, in u: (name: String, nanoseconds: Double), ascii: Bool = false) -> String {
        let v = max(0, ns) / u.nanoseconds
        let digits = u.nanoseconds == 1 ? 0 : v < 100 ? 2 : v < 1000 ? 1 : 0
        let name = ascii && u.name == "µs" ? "us" : u.name
        return fixed(v, digits: digits) + " " + name
    }

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
