/// Reads the common shapes of an NDJSON event line straight from its bytes, for the
/// fast paths of import (``ImportFastLine``) and of the service (``ClientFastLine``):
/// exact keys in a fixed order, no white space, strings of printable ASCII without
/// escapes. Every method consumes what it matched, or returns `nil` (`false`) so that
/// the caller leaves the line to the general parser, which words every error.
struct FastLineScanner {
    let b: UnsafeBufferPointer<UInt8>
    /// The offset of the next byte to read.
    var i: Int
    let end: Int

    /// A scanner of bytes `[start, end)` of `b`, a trailing CR dropped.
    init(_ b: UnsafeBufferPointer<UInt8>, from start: Int, to end: Int) {
        self.b = b
        i = start
        self.end = end > start && b[end - 1] == 0x0D ? end - 1 : end
    }

    /// Whether the line is read to its end.
    var atEnd: Bool { i == end }

    mutating func literal(_ s: StaticString) -> Bool {
        let n = s.utf8CodeUnitCount
        guard end - i >= n else { return false }
        for k in 0..<n where b[i + k] != s.utf8Start[k] { return false }
        i += n
        return true
    }

    /// A string of printable ASCII other than `"` and `\`: its byte range.
    mutating func plainString() -> Range<Int>? {
        guard i < end, b[i] == UInt8(ascii: "\"") else { return nil }
        i += 1
        let from = i
        while i < end {
            let c = b[i]
            if c == UInt8(ascii: "\"") { i += 1; return from..<(i - 1) }
            guard c >= 0x20 && c < 0x7F && c != UInt8(ascii: "\\") else { return nil }
            i += 1
        }
        return nil
    }

    /// The text of `range` as a String.
    func text(_ range: Range<Int>) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: b[range]), as: UTF8.self)
    }

    /// A JSON integer: the value, or `nil` (leading zeros, `-0` or more than 18 digits
    /// go to the general parser).
    mutating func integer() -> Int64? {
        var negative = false
        if i < end && b[i] == UInt8(ascii: "-") { negative = true; i += 1 }
        let from = i
        var v: Int64 = 0
        while i < end, b[i] >= UInt8(ascii: "0"), b[i] <= UInt8(ascii: "9") {
            guard i - from < 18 else { return nil }
            v = v * 10 + Int64(b[i] - UInt8(ascii: "0"))
            i += 1
        }
        let n = i - from
        guard n > 0 && n <= 18, !(b[from] == UInt8(ascii: "0") && (n > 1 || negative)) else { return nil }
        return negative ? -v : v
    }

    /// The value of decimal digits `r`, or `nil` when one is not a digit.
    func digits(_ r: Range<Int>) -> Int64? {
        var v: Int64 = 0
        for k in r {
            guard b[k] >= UInt8(ascii: "0"), b[k] <= UInt8(ascii: "9") else { return nil }
            v = v * 10 + Int64(b[k] - UInt8(ascii: "0"))
        }
        return v
    }

    /// An invocation string: 1 to 16 hexadecimal digits.
    mutating func invocation() -> InvocationID? {
        guard let r = plainString(), (1...16).contains(r.count) else { return nil }
        var v: UInt64 = 0
        for k in r {
            let c = b[k] | 0x20
            let d: UInt8
            if c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") {
                d = c - UInt8(ascii: "0")
            } else if c >= UInt8(ascii: "a") && c <= UInt8(ascii: "f") {
                d = c - UInt8(ascii: "a") + 10
            } else {
                return nil
            }
            v = v << 4 | UInt64(d)
        }
        return InvocationID(rawValue: v)
    }

    /// A non-negative number of milliseconds as nanoseconds: an integer part of at most
    /// twelve digits (exact in nanoseconds) and a fraction. With `rounding`, a fraction
    /// of more than six digits is rounded to the nanosecond, halves up, as the general
    /// parser does; without, it is left to that parser. Exponents are left to it always.
    mutating func milliseconds(rounding: Bool) -> UInt64? {
        let whole = i
        while i < end, b[i] >= UInt8(ascii: "0"), b[i] <= UInt8(ascii: "9") { i += 1 }
        guard i > whole, i - whole <= 12, !(b[whole] == UInt8(ascii: "0") && i - whole > 1),
              var ns = digits(whole..<i).map({ UInt64($0) * 1_000_000 })
        else { return nil }
        if i < end && b[i] == UInt8(ascii: ".") {
            i += 1
            let from = i
            while i < end, b[i] >= UInt8(ascii: "0"), b[i] <= UInt8(ascii: "9") { i += 1 }
            let count = i - from
            guard count > 0, count <= 6 || (rounding && count <= 40),
                  var fraction = digits(from..<(from + min(count, 6)))
            else { return nil }
            for _ in min(count, 6)..<6 { fraction *= 10 }
            // Only the seventh digit decides: 5 or more is at least a half.
            if count > 6 && b[from + 6] >= UInt8(ascii: "5") { fraction += 1 }
            ns += UInt64(fraction)
        }
        if i < end && (b[i] | 0x20) == UInt8(ascii: "e") { return nil }
        return ns
    }
}
