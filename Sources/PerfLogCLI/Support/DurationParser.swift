/// Parses the durations people type: a decimal number and an optional unit, or several
/// number–unit parts added up (`1h30m`, `2m 5s`, `1m 30.5s`).
///
/// Units are `ns`, `us` (or `µs`), `ms`, `s`, `m` and `h`, also spelled out (`sec`,
/// `seconds`, `min`, `minutes`, `hr`, `hours`, …); a bare number is milliseconds, the
/// unit the old tracker used (or the unit a caller names, such as seconds for `--wait`,
/// or none, where a unit is required: `--abandon-after`). Only a duration of one part
/// may be bare. Examples: `812.4ms`, `812.4`, `1.5s`, `250us`, `1e3 ns`, `24h`, `1h30m`,
/// `5 minutes`. The result is rounded to the nearest nanosecond.
enum DurationParser {
    /// The units accepted, with their size in nanoseconds; the first name of each is
    /// the one messages use.
    static let units: [(names: [String], nanoseconds: Double)] = [
        (["ns", "nsec", "nanosecond", "nanoseconds"], 1),
        (["us", "µs", "μs", "usec", "microsecond", "microseconds"], 1e3),
        (["ms", "msec", "millisecond", "milliseconds"], 1e6),
        (["s", "sec", "secs", "second", "seconds"], 1e9),
        (["m", "min", "mins", "minute", "minutes"], 60e9),
        (["h", "hr", "hrs", "hour", "hours"], 3600e9),
    ]

    /// The size of the unit called `name` (case-insensitive for spelled-out names), in
    /// nanoseconds; `nil` for an unknown unit.
    static func unit(_ name: String) -> Double? {
        let lower = name.count > 2 ? name.lowercased() : name
        return units.first { $0.names.contains(lower) }?.nanoseconds
    }

    /// Parses `text` into nanoseconds.
    /// - Throws: ``CLIFailure`` (exit 65) naming `field` and the rule broken: the text is
    ///   empty, not a number, negative, NaN or infinite, too large for 64 bits of
    ///   nanoseconds, or has an unknown unit.
    ///   `limit`, when given, is the largest value accepted and how to say it;
    ///   `bareUnit` is the unit of a bare number, `nil` when a unit is required.
    static func nanoseconds(
        _ text: String, field: String = "duration", bareUnit: String? = "ms", limit: (ns: UInt64, text: String)? = nil
    ) throws(CLIFailure) -> UInt64 {
        let trimmed = text.trimmingSpaces
        guard !trimmed.isEmpty else { throw .invalid(field, "must not be empty (e.g. 812.4ms or 1h30m)") }
        // "nan", "inf" and "-infinity" are all letters; Double reads them, and they
        // deserve the finiteness message rather than "unknown unit".
        if let special = Double(trimmed), !special.isFinite {
            throw .invalid(field, "must be a finite number (got \(trimmed))")
        }
        let names = "ns, us, ms, s, m or h"
        // Double would read hexadecimal floats; people mean a decimal number.
        let unsigned = trimmed.utf8.drop { $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "+") }
        let isHexadecimal = unsigned.starts(with: "0x".utf8) || unsigned.starts(with: "0X".utf8)
        let parts = isHexadecimal ? nil : split(trimmed)
        guard let parts, !parts.isEmpty else {
            throw .invalid(field, "must be a number with an optional unit, e.g. 812.4ms or 1h30m (got \(trimmed))")
        }
        var total = 0.0
        for (number, unitName) in parts {
            let factor: Double
            if unitName.isEmpty {
                guard parts.count == 1 else {
                    throw .invalid(field, "each part of a compound duration needs a unit, e.g. 1h30m (got \(trimmed))")
                }
                guard let bareUnit, let known = unit(bareUnit) else { throw .invalid(field, "needs a unit (\(names)), got \(trimmed)") }
                factor = known
            } else if let known = unit(unitName) {
                factor = known
            } else {
                throw .invalid(field, "unknown unit '\(unitName)' (use \(names), or several as in 1h30m\(bareUnit.map { "; a bare number is \($0)" } ?? ""))")
            }
            guard let value = Double(number) else {
                throw .invalid(field, "must be a number with an optional unit, e.g. 812.4ms or 1h30m (got \(trimmed))")
            }
            guard value.isFinite else { throw .invalid(field, "must be a finite number (got \(trimmed))") }
            guard value >= 0 else { throw .invalid(field, "must not be negative (got \(trimmed))") }
            total += value * factor
        }
        let ns = total.rounded()
        if let limit, !(ns <= Double(limit.ns)) { throw .invalid(field, "is too large (at most \(limit.text); got \(trimmed))") }
        // 2^64 itself is not representable as UInt64; every double below it is.
        guard ns < 18_446_744_073_709_551_616.0 else {
            throw .invalid(field, "is too large (at most about 584 years)")
        }
        return UInt64(ns)
    }

    /// `text` cut into (number, unit) parts: a number in plain decimal notation (digits,
    /// a point, an exponent; a sign only in front of the first), then optional spaces,
    /// then the unit's letters, then optional spaces. `nil` when it is not such a
    /// sequence.
    private static func split(_ text: String) -> [(number: String, unit: String)]? {
        let scalars = Array(text.unicodeScalars)
        var parts: [(String, String)] = []
        var i = 0
        func isDigit(_ c: Unicode.Scalar) -> Bool { c.value >= 0x30 && c.value <= 0x39 }
        func isSpace(_ c: Unicode.Scalar) -> Bool { c == " " || c == "\t" }
        // ASCII first: Unicode's property tables cost every `perflog record` a tenth of
        // its start when they are read; only a unit such as `µs` needs them.
        func isLetter(_ c: Unicode.Scalar) -> Bool {
            switch c.value {
            case 0x41...0x5A, 0x61...0x7A: true
            case 0..<0x80: false
            default: c.properties.isAlphabetic
            }
        }
        while i < scalars.count {
            var number = ""
            if parts.isEmpty, scalars[i] == "-" || scalars[i] == "+" {
                number.unicodeScalars.append(scalars[i])
                i += 1
            }
            // Digits and a point, then an exponent only when digits follow it, so that
            // the `e` of a unit is not taken for one.
            while i < scalars.count, isDigit(scalars[i]) || scalars[i] == "." {
                number.unicodeScalars.append(scalars[i])
                i += 1
            }
            if i < scalars.count, scalars[i] == "e" || scalars[i] == "E" {
                var j = i + 1
                if j < scalars.count, scalars[j] == "+" || scalars[j] == "-" { j += 1 }
                if j < scalars.count, isDigit(scalars[j]) {
                    while j < scalars.count, isDigit(scalars[j]) { j += 1 }
                    number.unicodeScalars.append(contentsOf: scalars[i..<j])
                    i = j
                }
            }
            guard number.unicodeScalars.contains(where: isDigit) else { return nil }
            while i < scalars.count, isSpace(scalars[i]) { i += 1 }
            var unit = ""
            while i < scalars.count, isLetter(scalars[i]) {
                unit.unicodeScalars.append(scalars[i])
                i += 1
            }
            while i < scalars.count, isSpace(scalars[i]) { i += 1 }
            parts.append((number, unit))
            if unit.isEmpty && i < scalars.count { return nil }
        }
        return parts
    }
}

extension String {
    /// The string without leading and trailing spaces and tabs.
    var trimmingSpaces: String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { $0 != " " && $0 != "\t" }),
              let last = scalars.lastIndex(where: { $0 != " " && $0 != "\t" })
        else { return "" }
        return String(scalars[first...last])
    }
}
