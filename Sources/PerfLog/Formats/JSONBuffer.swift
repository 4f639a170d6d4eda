#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A growing buffer of JSON text, with the few writers the projection needs.
struct JSONBuffer {
    var bytes: [UInt8]
    /// The day of the last timestamp and its `YYYY-MM-DDT` text: consecutive
    /// measurements are mostly on the same day.
    private var cachedDay = Int64.min
    private var dayText: [UInt8] = []

    init(capacity: Int) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    @inline(__always)
    mutating func raw(_ s: StaticString) {
        s.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    @inline(__always)
    mutating func raw(_ b: [UInt8]) { bytes.append(contentsOf: b) }

    /// `s` as a JSON string: the same text as ``JSONText/quoted(_:)`` (escapes `"`, `\`
    /// and control characters; raw UTF-8 otherwise). Working on bytes is equivalent:
    /// every byte of a multi-byte UTF-8 sequence is 0x80 or above.
    mutating func quoted(_ s: String) {
        bytes.append(0x22)
        for b in s.utf8 {
            switch b {
            case 0x22: bytes.append(0x5C); bytes.append(0x22)
            case 0x5C: bytes.append(0x5C); bytes.append(0x5C)
            case 0..<0x20:
                raw("\\u00")
                bytes.append(hex(b >> 4))
                bytes.append(hex(b & 0xF))
            default: bytes.append(b)
            }
        }
        bytes.append(0x22)
    }

    @inline(__always)
    private func hex(_ v: UInt8) -> UInt8 { v < 10 ? 0x30 + v : 0x61 + v - 10 }

    /// `v` in decimal.
    mutating func uint(_ v: UInt64) {
        if v < 10 {
            bytes.append(0x30 + UInt8(v))
            return
        }
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: room for 20 digits
        withUnsafeMutableBytes(of: &digits) { buf in
            var i = buf.count, x = v
            while x > 0 {
                i -= 1
                buf[i] = 0x30 + UInt8(x % 10)
                x /= 10
            }
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: buf[i...]))
        }
    }

    /// `v / 10^places` minimally: the integer part, then, unless the fraction is 0, a
    /// point and the fraction without trailing zeros (as ``JSONText/decimal(_:scale:)``).
    mutating func decimal(_ v: UInt64, places: Int) {
        var scale: UInt64 = 1
        for _ in 0..<places { scale *= 10 }
        uint(v / scale)
        var fraction = v % scale
        guard fraction != 0 else { return }
        var width = places
        while fraction % 10 == 0 { fraction /= 10; width -= 1 }
        bytes.append(0x2E)
        var digits = 0, f = fraction
        while f > 0 { digits += 1; f /= 10 }
        for _ in 0..<(width - digits) { bytes.append(0x30) }
        uint(fraction)
    }

    /// An exact duration as milliseconds rounded to the microsecond (halves up), as
    /// ``JSONText/milliseconds(nanoseconds:)``.
    @inline(__always)
    mutating func milliseconds(nanoseconds ns: UInt64) {
        decimal(ns / 1000 + (ns % 1000 >= 500 ? 1 : 0), places: 3)
    }

    /// A computed duration in nanoseconds as milliseconds rounded to the microsecond
    /// (halves away from zero); `null` for `nil` or a value that is not finite.
    mutating func milliseconds(_ ns: Double?) {
        guard let ns, ns.isFinite else { raw("null"); return }
        decimal(JSONBuffer.clampedUInt((Swift.max(0, ns) / 1000).rounded(.toNearestOrAwayFromZero)), places: 3)
    }

    /// `v` (not negative) rounded to six decimals; `null` for `nil` or not finite.
    mutating func fixed6(_ v: Double?) {
        guard let v, v.isFinite else { raw("null"); return }
        decimal(JSONBuffer.clampedUInt((Swift.max(0, v) * 1_000_000).rounded(.toNearestOrAwayFromZero)), places: 6)
    }

    private static func clampedUInt(_ v: Double) -> UInt64 {
        v < 18_446_744_073_709_551_616.0 ? UInt64(v) : .max
    }

    /// A quoted ISO 8601 UTC time with milliseconds, or `null`.
    mutating func timestamp(_ ns: Int64?) {
        guard let ns else { raw("null"); return }
        timestamp(ns)
    }

    /// A quoted ISO 8601 UTC time with milliseconds: the same text as
    /// ``Timestamp/iso8601(unixNanoseconds:precision:)``.
    mutating func timestamp(_ ns: Int64) {
        let nsPerSecond: Int64 = 1_000_000_000
        var seconds = ns / nsPerSecond
        var subsecond = ns % nsPerSecond
        if subsecond < 0 { subsecond += nsPerSecond; seconds -= 1 }
        var day = seconds / 86_400
        var secondOfDay = seconds % 86_400
        if secondOfDay < 0 { secondOfDay += 86_400; day -= 1 }
        if day != cachedDay {
            let (year, month, dayOfMonth) = Timestamp.civilDate(daysSinceEpoch: day)
            guard year >= 0 && year <= 9999 else {
                // Outside four-digit years the general formatter decides the text.
                bytes.append(0x22)
                bytes.append(contentsOf: Timestamp.iso8601(unixNanoseconds: ns, precision: .milliseconds).utf8)
                bytes.append(0x22)
                return
            }
            cachedDay = day
            dayText = []
            digits(UInt64(year), 4, into: &dayText)
            dayText.append(0x2D)
            digits(UInt64(month), 2, into: &dayText)
            dayText.append(0x2D)
            digits(UInt64(dayOfMonth), 2, into: &dayText)
            dayText.append(0x54)
        }
        bytes.append(0x22)
        bytes.append(contentsOf: dayText)
        digits(UInt64(secondOfDay / 3600), 2, into: &bytes)
        bytes.append(0x3A)
        digits(UInt64(secondOfDay / 60 % 60), 2, into: &bytes)
        bytes.append(0x3A)
        digits(UInt64(secondOfDay % 60), 2, into: &bytes)
        bytes.append(0x2E)
        digits(UInt64(subsecond / 1_000_000), 3, into: &bytes)
        bytes.append(0x5A)
        bytes.append(0x22)
    }

    /// `v` in exactly `width` decimal digits (zero-padded; `v` fits).
    @inline(__always)
    private func digits(_ v: UInt64, _ width: Int, into out: inout [UInt8]) {
        var divisor: UInt64 = 1
        for _ in 1..<width { divisor *= 10 }
        var v = v
        while divisor > 0 {
            out.append(0x30 + UInt8(v / divisor))
            v %= divisor
            divisor /= 10
        }
    }
}
