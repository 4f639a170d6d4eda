// JSON text for events, log facts and timestamps, written by hand: perflog is a
// command-line tool that starts many times a minute, and Foundation's JSONEncoder and
// date formatters cost more to load than the whole command costs to run. Output is
// compact (no spaces between tokens) and keys come in a fixed order, so that two
// renderings of the same value are byte-identical.

/// Building blocks for the JSON text perflog writes.
package enum JSONText {
    /// `s` as a JSON string literal, quotes included.
    ///
    /// Escapes `"` and `\` with a backslash and every control character below U+0020 as
    /// `\u00XX` (lowercase hexadecimal); everything else, including non-ASCII, is
    /// written as raw UTF-8.
    package static func quoted(_ s: String) -> String {
        var out = ""
        appendQuoted(s, to: &out)
        return out
    }

    /// Appends `s` as a JSON string literal to `out`; see ``quoted(_:)``.
    package static func appendQuoted(_ s: String, to out: inout String) {
        out.reserveCapacity(out.utf8.count + s.utf8.count + 2)
        out.append("\"")
        // Copy runs of plain characters in one go; most names need no escaping at all.
        var runStart = s.unicodeScalars.startIndex
        var i = runStart
        let scalars = s.unicodeScalars
        while i < scalars.endIndex {
            let v = scalars[i].value
            if v < 0x20 || v == 0x22 || v == 0x5C {
                out.unicodeScalars.append(contentsOf: scalars[runStart..<i])
                switch v {
                case 0x22: out.append("\\\"")
                case 0x5C: out.append("\\\\")
                default:
                    out.append("\\u00")
                    out.append(hexDigit(v >> 4))
                    out.append(hexDigit(v & 0xF))
                }
                runStart = scalars.index(after: i)
            }
            i = scalars.index(after: i)
        }
        out.unicodeScalars.append(contentsOf: scalars[runStart..<scalars.endIndex])
        out.append("\"")
    }

    private static func hexDigit(_ v: UInt32) -> Character {
        Character(Unicode.Scalar(UInt8(v < 10 ? 0x30 + v : 0x61 + v - 10)))
    }

    /// A duration in nanoseconds as milliseconds rounded to the nearest microsecond
    /// (halves round up), written minimally as a JSON number: `812.413`, `1000`,
    /// `0.001`, `0`. Never uses an exponent.
    package static func milliseconds(nanoseconds ns: UInt64) -> String {
        let us = ns / 1000 + (ns % 1000 >= 500 ? 1 : 0)
        return decimal(us, scale: 1000)
    }

    /// `value / scale` as a minimal decimal: the integer part, then, when not zero,
    /// a point and the fraction without trailing zeros. `scale` is a power of ten.
    static func decimal(_ value: UInt64, scale: UInt64) -> String {
        let whole = value / scale
        var fraction = value % scale
        if fraction == 0 { return String(whole) }
        var digits = 0
        var s = scale
        while s > 1 { s /= 10; digits += 1 }
        while fraction % 10 == 0 { fraction /= 10; digits -= 1 }
        let f = String(fraction)
        return String(whole) + "." + String(repeating: "0", count: digits - f.count) + f
    }
}
