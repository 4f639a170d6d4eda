/// ISO 8601 timestamps in UTC, as perflog writes them.
package enum Timestamp {
    /// How many fractional digits of the second to write.
    package enum Precision: Sendable {
        /// Three digits: `2026-01-19T20:50:24.123Z` (the projection's times).
        case milliseconds
        /// Six digits: `2026-01-19T20:50:24.123456Z` (event times in NDJSON).
        case microseconds
    }

    /// Formats a wall-clock time, given in nanoseconds since the Unix epoch, as ISO 8601
    /// UTC with the requested precision. The fraction is truncated, not rounded, so a
    /// time never appears to be in a later second (or day) than it is. Times before
    /// 1970 are supported.
    package static func iso8601(unixNanoseconds ns: Int64, precision: Precision) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(27)
        ISO8601.append(unixNanoseconds: ns, precision: precision, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Parses a time as people type one: `2026-12-01T09:30:00Z` (1 to 9 fractional
    /// digits allowed), with a `±hh:mm` offset instead of `Z`, or a date alone
    /// (`2026-12-01`, midnight UTC).
    /// - Returns: nanoseconds since the Unix epoch, or `nil` when `text` is none of these.
    package static func parse(_ text: String) -> Int64? {
        if text.utf8.count == 10, let ns = ISO8601.parse(text + "T00:00:00Z", allowOffset: false) { return ns }
        return ISO8601.parse(text, allowOffset: true)
    }
}

/// ISO 8601 date-times in UTC, written and read: ``Timestamp`` and ``JSONBuffer`` write
/// with this, and every reader of perflog's formats parses with it.
enum ISO8601 {
    /// The `YYYY-MM-DDT` text of the last day written: consecutive times are mostly on
    /// the same day, and the calendar is the costly part.
    struct DayCache {
        fileprivate var day = Int64.min
        fileprivate var text: [UInt8] = []
    }

    /// Appends the text ``Timestamp/iso8601(unixNanoseconds:precision:)`` describes.
    static func append(unixNanoseconds ns: Int64, precision: Timestamp.Precision, to out: inout [UInt8]) {
        let t = split(ns)
        appendDate(day: t.day, to: &out)
        appendTime(t.secondOfDay, t.subsecond, precision, to: &out)
    }

    /// Appends the same text, taking the date from `cache` when the day is the last one.
    @inline(__always)
    static func append(unixNanoseconds ns: Int64, precision: Timestamp.Precision, to out: inout [UInt8],
                       cache: inout DayCache) {
        let t = split(ns)
        if t.day != cache.day {
            cache.day = t.day
            cache.text.removeAll(keepingCapacity: true)
            appendDate(day: t.day, to: &cache.text)
        }
        out.append(contentsOf: cache.text)
        appendTime(t.secondOfDay, t.subsecond, precision, to: &out)
    }

    /// Days since the epoch, the second of that day and the nanosecond of that second,
    /// by floor division so that times before the epoch land in the right second.
    @inline(__always)
    private static func split(_ ns: Int64) -> (day: Int64, secondOfDay: Int64, subsecond: Int64) {
        let nsPerSecond: Int64 = 1_000_000_000
        var seconds = ns / nsPerSecond
        var subsecond = ns % nsPerSecond
        if subsecond < 0 { subsecond += nsPerSecond; seconds -= 1 }
        var day = seconds / 86_400
        var secondOfDay = seconds % 86_400
        if secondOfDay < 0 { secondOfDay += 86_400; day -= 1 }
        return (day, secondOfDay, subsecond)
    }

    /// `YYYY-MM-DDT` (a year before 1 as `-YYYY`).
    private static func appendDate(day: Int64, to out: inout [UInt8]) {
        let (year, month, dayOfMonth) = civilDate(daysSinceEpoch: day)
        if year < 0 { out.append(UInt8(ascii: "-")) }
        pad(year.magnitude, 4, &out)
        out.append(UInt8(ascii: "-"))
        pad(UInt64(month), 2, &out)
        out.append(UInt8(ascii: "-"))
        pad(UInt64(dayOfMonth), 2, &out)
        out.append(UInt8(ascii: "T"))
    }

    /// `hh:mm:ss.fffZ` or `hh:mm:ss.ffffffZ`.
    @inline(__always)
    private static func appendTime(_ secondOfDay: Int64, _ subsecond: Int64, _ precision: Timestamp.Precision,
                                   to out: inout [UInt8]) {
        pad(UInt64(secondOfDay / 3600), 2, &out)
        out.append(UInt8(ascii: ":"))
        pad(UInt64(secondOfDay / 60 % 60), 2, &out)
        out.append(UInt8(ascii: ":"))
        pad(UInt64(secondOfDay % 60), 2, &out)
        out.append(UInt8(ascii: "."))
        switch precision {
        case .milliseconds: pad(UInt64(subsecond / 1_000_000), 3, &out)
        case .microseconds: pad(UInt64(subsecond / 1_000), 6, &out)
        }
        out.append(UInt8(ascii: "Z"))
    }

    /// `value` in decimal, left-padded with zeros to at least `width` digits.
    @inline(__always)
    private static func pad(_ value: UInt64, _ width: Int, _ out: inout [UInt8]) {
        var divisor: UInt64 = 1
        for _ in 1..<width { divisor *= 10 }
        while value / divisor >= 10 { divisor *= 10 }
        var v = value
        while divisor > 0 {
            out.append(0x30 + UInt8(v / divisor))
            v %= divisor
            divisor /= 10
        }
    }

    /// The proleptic Gregorian date of a day counted from 1970-01-01 (Howard Hinnant's
    /// `civil_from_days`, exact for every `Int64` day this type can be given).
    static func civilDate(daysSinceEpoch: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = daysSinceEpoch + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        return (year, month, day)
    }

    // MARK: Reading

    /// Parses `YYYY-MM-DDThh:mm:ss[.f…]Z`, with 1 to 9 fractional digits, and with
    /// `allowOffset` a `±hh:mm` offset instead of `Z`.
    /// - Returns: nanoseconds since the Unix epoch, or `nil` when `s` is not such a time
    ///   or is outside what `Int64` nanoseconds can hold (1677 to 2262).
    static func parse(_ s: String, allowOffset: Bool) -> Int64? {
        var u = s.utf8.makeIterator()
        return parse(&u, allowOffset: allowOffset)
    }

    /// Parses the UTF-8 bytes `b` as ``parse(_:allowOffset:)`` does a string.
    static func parse(_ b: UnsafeBufferPointer<UInt8>, allowOffset: Bool) -> Int64? {
        var u = b.makeIterator()
        return parse(&u, allowOffset: allowOffset)
    }

    private static func parse(_ u: inout some IteratorProtocol<UInt8>, allowOffset: Bool) -> Int64? {
        func next() -> UInt8? { u.next() }
        func digits(_ n: Int) -> Int64? {
            var v: Int64 = 0
            for _ in 0..<n {
                guard let c = next(), c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") else { return nil }
                v = v * 10 + Int64(c - UInt8(ascii: "0"))
            }
            return v
        }
        func expect(_ ascii: Unicode.Scalar) -> Bool { next() == UInt8(ascii: ascii) }

        guard let year = digits(4), expect("-"), let month = digits(2), expect("-"), let day = digits(2), expect("T"),
              let hour = digits(2), expect(":"), let minute = digits(2), expect(":"), let second = digits(2)
        else { return nil }
        guard (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year),
              hour <= 23, minute <= 59, second <= 59 else { return nil }
        var fraction: Int64 = 0
        var c = next()
        if c == UInt8(ascii: ".") {
            var count = 0
            c = next()
            while let d = c, d >= UInt8(ascii: "0"), d <= UInt8(ascii: "9") {
                count += 1
                guard count <= 9 else { return nil }
                fraction = fraction * 10 + Int64(d - UInt8(ascii: "0"))
                c = next()
            }
            guard count > 0 else { return nil }
            for _ in count..<9 { fraction *= 10 }
        }
        var offsetSeconds: Int64 = 0
        switch c {
        case UInt8(ascii: "Z"):
            break
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            guard allowOffset, let oh = digits(2), expect(":"), let om = digits(2), oh <= 23, om <= 59 else { return nil }
            offsetSeconds = (oh * 3600 + om * 60) * (c == UInt8(ascii: "+") ? 1 : -1)
        default:
            return nil
        }
        guard next() == nil else { return nil }

        let days = daysFromCivil(year: year, month: month, day: day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offsetSeconds
        // For the last second before the earliest representable one, seconds × 10⁹
        // alone overflows although the sum fits: borrow a second from the fraction.
        let borrow: Int64 = seconds < 0 && fraction > 0 ? 1 : 0
        let (scaled, o1) = (seconds + borrow).multipliedReportingOverflow(by: 1_000_000_000)
        let (ns, o2) = scaled.addingReportingOverflow(fraction - borrow * 1_000_000_000)
        return o1 || o2 ? nil : ns
    }

    static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
    /// `days_from_civil`, the inverse of ``civilDate(daysSinceEpoch:)``).
    static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}
