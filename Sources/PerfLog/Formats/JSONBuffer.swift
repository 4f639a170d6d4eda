// JSON text written by hand: perflog is a command-line tool that starts many times a
// minute, and Foundation's JSONEncoder and date formatters cost more to load than the
// whole command costs to run. Output is compact (no spaces between tokens) and keys come
// in the order their writers give, so that two renderings of the same value are
// byte-identical.

/// A growing buffer of JSON text, and the writers of its tokens: the one JSON writer of
/// perflog (the projection, events, exports and every `--json` output).
package struct JSONBuffer {
    /// The text so far (UTF-8).
    package var bytes: [UInt8]
    private var days = ISO8601.DayCache()

    /// An empty buffer with room for `capacity` bytes.
    package init(capacity: Int) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// The text so far.
    package var text: String { String(decoding: bytes, as: UTF8.self) }

    /// The text `build` writes into an empty buffer.
    @inline(__always)
    package static func text(capacity: Int = 64, _ build: (inout JSONBuffer) -> Void) -> String {
        var b = JSONBuffer(capacity: capacity)
        build(&b)
        return b.text
    }

    /// `s` as a JSON string literal, quotes included; see ``quoted(_:)``.
    package static func quoted(_ s: String) -> String {
        text(capacity: s.utf8.count + 2) { $0.quoted(s) }
    }

    /// Appends `s` as it is: punctuation, keys, literals.
    @inline(__always)
    package mutating func raw(_ s: StaticString) {
        s.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    /// Appends `b` as it is.
    @inline(__always)
    package mutating func raw(_ b: [UInt8]) { bytes.append(contentsOf: b) }

    /// Appends one byte as it is.
    @inline(__always)
    package mutating func byte(_ b: UInt8) { bytes.append(b) }

    /// Appends the text `s` as it is (a value known to need no escaping, such as an
    /// enumeration's raw value).
    @inline(__always)
    package mutating func raw(_ s: String) { bytes.append(contentsOf: s.utf8) }

    /// `s` as a JSON string literal, quotes included: `"` and `\` escaped with a
    /// backslash, every control character below U+0020 as `\u00XX` (lowercase
    /// hexadecimal), everything else, non-ASCII included, as raw UTF-8. Working on bytes
    /// is exact: every byte of a multi-byte UTF-8 sequence is 0x80 or above.
    package mutating func quoted(_ s: String) {
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
    package mutating func uint(_ v: UInt64) {
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

    /// `v` in decimal, with a minus sign when negative.
    package mutating func int(_ v: Int64) {
        if v < 0 { bytes.append(UInt8(ascii: "-")) }
        uint(v.magnitude)
    }

    /// `v / 10^places` minimally: the integer part, then, unless the fraction is 0, a
    /// point and the fraction without trailing zeros; never an exponent.
    package mutating func decimal(_ v: UInt64, places: Int) {
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

    /// An exact duration in nanoseconds as milliseconds rounded to the microsecond
    /// (halves up), written minimally: `812.413`, `1000`, `0.001`, `0`.
    @inline(__always)
    package mutating func milliseconds(nanoseconds ns: UInt64) {
        decimal(ns / 1000 + (ns % 1000 >= 500 ? 1 : 0), places: 3)
    }

    /// A computed duration in nanoseconds as milliseconds rounded to the microsecond
    /// (halves away from zero); `null` for `nil` or a value that is not finite.
    package mutating func milliseconds(_ ns: Double?) {
        guard let ns, ns.isFinite else { raw("null"); return }
        decimal(JSONBuffer.clampedUInt((Swift.max(0, ns) / 1000).rounded(.toNearestOrAwayFromZero)), places: 3)
    }

    /// `v` (not negative) rounded to six decimals; `null` for `nil` or not finite.
    package mutating func fixed6(_ v: Double?) {
        guard let v, v.isFinite else { raw("null"); return }
        decimal(JSONBuffer.clampedUInt((Swift.max(0, v) * 1_000_000).rounded(.toNearestOrAwayFromZero)), places: 6)
    }

    private static func clampedUInt(_ v: Double) -> UInt64 {
        v < 18_446_744_073_709_551_616.0 ? UInt64(v) : .max
    }

    /// A quoted ISO 8601 UTC time with milliseconds, or `null`.
    package mutating func timestamp(_ ns: Int64?) {
        guard let ns else { raw("null"); return }
        timestamp(ns)
    }

    /// A quoted ISO 8601 UTC time (``Timestamp/iso8601(unixNanoseconds:precision:)``),
    /// with milliseconds unless told otherwise.
    @inline(__always)
    package mutating func timestamp(_ ns: Int64, precision: Timestamp.Precision = .milliseconds) {
        bytes.append(0x22)
        ISO8601.append(unixNanoseconds: ns, precision: precision, to: &bytes, cache: &days)
        bytes.append(0x22)
    }
}
