/// Parses the durations people type: a decimal number and an optional unit.
///
/// Units are `ns`, `us` (or `µs`), `ms`, `s`, `m` and `h`; a bare number is
/// milliseconds, the unit the old tracker used (or the unit a caller names, such as
/// seconds for `--wait`, or none, where a unit is required: `--abandon-after`).
/// Examples: `812.4ms`, `812.4`, `1.5s`, `250us`, `1e3 ns`, `24h`.
/// The result is rounded to the nearest nanosecond.
enum DurationParser {
    /// The units accepted, with their size in nanoseconds.
    static let units: [(name: String, nanoseconds: Double)] = [
        ("ns", 1), ("us", 1e3), ("µs", 1e3), ("ms", 1e6), ("s", 1e9), ("m", 60e9), ("h", 3600e9),
    ]

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
        guard !trimmed.isEmpty else { throw .invalid(field, "must not be empty (e.g. 812.4ms)") }

        // The unit is the trailing run of letters; what precedes it is the number.
        let scalars = trimmed.unicodeScalars
        var unitStart = scalars.endIndex
        while unitStart > scalars.startIndex {
            let previous = scalars.index(before: unitStart)
            guard scalars[previous].properties.isAlphabetic else { break }
            unitStart = previous
        }
        let unit = String(scalars[unitStart...])
        let number = String(scalars[..<unitStart]).trimmingSpaces

        // "nan", "inf" and "-infinity" are all letters; Double reads them, and they
        // deserve the finiteness message rather than "unknown unit".
        if let special = Double(trimmed), !special.isFinite {
            throw .invalid(field, "must be a finite number (got \(trimmed))")
        }
        let names = "ns, us, ms, s, m or h"
        let factor: Double
        if unit.isEmpty && bareUnit == nil {
            throw .invalid(field, "needs a unit (\(names)), got \(trimmed)")
        } else if let known = units.first(where: { $0.name == (unit.isEmpty ? bareUnit : unit) }) {
            factor = known.nanoseconds
        } else {
            throw .invalid(field, "unknown unit '\(unit)' (use \(names)\(bareUnit.map { "; a bare number is \($0)" } ?? ""))")
        }
        // Only plain decimal notation: Double would also accept hexadecimal floats.
        let allowed = number.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2E || $0 == 0x65 || $0 == 0x45 || $0 == 0x2B || $0 == 0x2D }
        guard !number.isEmpty, allowed, let value = Double(number) else {
            throw .invalid(field, "must be a number with an optional unit, e.g. 812.4ms (got \(trimmed))")
        }
        guard value.isFinite else { throw .invalid(field, "must be a finite number (got \(trimmed))") }
        guard value >= 0 else { throw .invalid(field, "must not be negative (got \(trimmed))") }
        let ns = (value * factor).rounded()
        if let limit, !(ns <= Double(limit.ns)) { throw .invalid(field, "is too large (at most \(limit.text); got \(trimmed))") }
        // 2^64 itself is not representable as UInt64; every double below it is.
        guard ns < 18_446_744_073_709_551_616.0 else {
            throw .invalid(field, "is too large (at most about 584 years)")
        }
        return UInt64(ns)
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
