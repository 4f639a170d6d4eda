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
    // No tables of tuples here: every `perflog record` parses a duration, and the
    // runtime builds the metadata of an array of tuples from its mangled name at first
    // use, which cost more than the parse.

    /// The size of the unit called `name` (case-insensitive for spelled-out names), in
    /// nanoseconds; `nil` for an unknown unit.
    static func unit(_ name: String) -> Double? {
        switch name.count > 2 ? name.lowercased() : name {
        case "ns", "nsec", "nanosecond", "nanoseconds": 1
        case "us", "µs", "μs", "usec", "microsecond", "microseconds": 1e3
        case "ms", "msec", "millisecond", "milliseconds": 1e6
        case "s", "sec", "secs", "second", "seconds": 1e9
        case "m", "min", "mins", "minute", "minutes": 60e9
        case "h", "hr", "hrs", "hour", "hours": 3600e9
        default: nil
        }
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
        guard let parts, !parts.numbers.isEmpty else {
            throw .invalid(field, "must be a number with an optional unit, e.g. 812.4ms or 1h30m (got \(trimmed))")
        }
        var total = 0.0
        for k in parts.numbers.indices {
            let number = parts.numbers[k], unitName = parts.units[k]
            let factor: Double
            if unitName.isEmpty {
                guard parts.numbers.count == 1 else {
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

    /// `text` cut into (number, unit) parts, as two arrays of the same length: a number
    /// in plain decimal notation (digits, a point, an exponent; a sign only in front of
    /// the first), then optional spaces, then the unit's letters, then optional spaces.
    /// `nil` when it is not such a sequence.
    private static func split(_ text: String) -> (numbers: [String], units: [String])? {
        let scalars = text.unicodeScalars
        var numbers: [String] = [], units: [String] = []
        var i = scalars.startIndex
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
        func skip(while test: (Unicode.Scalar) -> Bool) {
            while i < scalars.endIndex, test(scalars[i]) { i = scalars.index(after: i) }
        }
        while i < scalars.endIndex {
            let start = i
            if numbers.isEmpty, scalars[i] == "-" || scalars[i] == "+" { i = scalars.index(after: i) }
            // Digits and a point, then an exponent only when digits follow it, so that
            // the `e` of a unit is not taken for one.
            skip { isDigit($0) || $0 == "." }
            if i < scalars.endIndex, scalars[i] == "e" || scalars[i] == "E" {
                var j = scalars.index(after: i)
                if j < scalars.endIndex, scalars[j] == "+" || scalars[j] == "-" { j = scalars.index(after: j) }
                if j < scalars.endIndex, isDigit(scalars[j]) {
                    i = j
                    skip(while: isDigit)
                }
            }
            let number = String(scalars[start..<i])
            guard number.unicodeScalars.contains(where: isDigit) else { return nil }
            skip(while: isSpace)
            let unitStart = i
            skip(while: isLetter)
            let unit = String(scalars[unitStart..<i])
            skip(while: isSpace)
            numbers.append(number)
            units.append(unit)
            if unit.isEmpty && i < scalars.endIndex { return nil }
        }
        return (numbers, units)
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
