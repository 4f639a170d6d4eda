// MARK: - JSON

/// A parsed JSON value.
package enum JSONValue {
    case string(String)
    case number(JSONNumber)
    case bool(Bool)
    case null
    case array([JSONValue])
    case object([(key: String, value: JSONValue)])

    /// The JSON type's name, for messages.
    var typeName: String {
        switch self {
        case .string: return "a string"
        case .number: return "a number"
        case .bool: return "a boolean"
        case .null: return "null"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}

/// A JSON number kept as its text (which matches JSON's number grammar), so that it
/// converts exactly.
package struct JSONNumber {
    /// The number as written.
    package var text: String
    /// Whether it has neither a fraction nor an exponent.
    var isInteger: Bool

    /// A value converted to an integer: sign and magnitude.
    struct Scaled {
        /// Whether the value is below zero (never set for zero itself, even `-0`).
        var negative: Bool
        var magnitude: UInt64

        /// The value as `Int64`, when it fits.
        var int64: Int64? {
            if negative {
                return magnitude <= UInt64(Int64.max) + 1 ? Int64(truncatingIfNeeded: 0 &- magnitude) : nil
            }
            return Int64(exactly: magnitude)
        }
    }

    /// The value times 10^`power`, rounded to an integer (halves away from zero); `nil`
    /// when the magnitude exceeds `UInt64.max`.
    func scaled(byPowerOfTen power: Int) -> Scaled? {
        // Two passes over the text rather than a list of digits: this runs for every
        // number of every line a service receives, and must not allocate.
        var negative = false
        var significantCount = 0
        var fractionDigits = 0
        var exponent = 0
        var exponentNegative = false
        var part = 0  // 0 integer, 1 fraction, 2 exponent
        for c in text.utf8 {
            switch c {
            case UInt8(ascii: "-"):
                if part == 2 { exponentNegative = true } else { negative = true }
            case UInt8(ascii: "+"):
                break
            case UInt8(ascii: "."):
                part = 1
            case UInt8(ascii: "e"), UInt8(ascii: "E"):
                part = 2
            default:
                let d = c &- UInt8(ascii: "0")
                if part == 2 {
                    // Far beyond any representable value either way; stop growing.
                    if exponent < 100_000_000 { exponent = exponent * 10 + Int(d) }
                } else {
                    if part == 1 { fractionDigits += 1 }
                    if !(significantCount == 0 && d == 0) { significantCount += 1 }
                }
            }
        }
        if significantCount == 0 { return Scaled(negative: false, magnitude: 0) }
        let shift = (exponentNegative ? -exponent : exponent) - fractionDigits + power
        let keep: Int
        if shift >= 0 {
            guard significantCount + shift <= 20 else { return nil }
            keep = significantCount
        } else {
            keep = significantCount + shift
            if keep < 0 { return Scaled(negative: false, magnitude: 0) }
        }
        var v: UInt64 = 0
        var overflow = false
        func push(_ d: UInt8) {
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(UInt64(d))
            v = s
            overflow = overflow || o1 || o2
        }
        // The significant digits: the first `keep` are pushed, the next one rounds.
        var index = 0
        var roundUp = false
        for c in text.utf8 {
            if c == UInt8(ascii: "e") || c == UInt8(ascii: "E") { break }
            guard c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") else { continue }
            let d = c &- UInt8(ascii: "0")
            if index == 0 && d == 0 { continue }
            if index < keep { push(d) } else if index == keep { roundUp = d >= 5 }
            index += 1
            if index > keep { break }
        }
        if shift > 0 { for _ in 0..<shift { push(0) } }
        if roundUp {
            let (s, o) = v.addingReportingOverflow(1)
            v = s
            overflow = overflow || o
        }
        guard !overflow else { return nil }
        return Scaled(negative: negative && v != 0, magnitude: v)
    }

    /// The value when it is an integer that fits `Int64`.
    func integer() -> Int64? { isInteger ? scaled(byPowerOfTen: 0)?.int64 : nil }
}

/// Why JSON text could not be parsed, and where.
package struct JSONSyntaxError: Error {
    /// Byte offset in the whole input.
    package var offset: Int
    package var message: String
    /// The top-level object's key whose value was being parsed, if any.
    var key: String?
}

/// A strict JSON parser (RFC 8259) over a range of UTF-8 bytes; valid only while the
/// buffer is. It reads a whole value (``document()``, ``element()``), or a document too
/// large to hold as one value a member or an element at a time (``members(_:)``,
/// ``elements(_:)``).
package struct JSONParser {
    let b: UnsafeBufferPointer<UInt8>
    /// The offset of the next byte to read.
    package private(set) var i: Int
    let end: Int
    /// The top-level key whose value is being parsed, named in errors.
    var key: String?
    /// How many objects and arrays enclose the next value.
    private var depth = 0

    /// A parser of bytes `[start, end)` of `b`.
    package init(_ b: UnsafeBufferPointer<UInt8>, from start: Int, to end: Int) {
        self.b = b
        i = start
        self.end = end
    }

    @inline(__always)
    static func isSpace(_ c: UInt8) -> Bool {
        c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09
    }

    /// `c` for a message: the character in quotes when printable ASCII, else its value.
    static func describe(_ c: UInt8) -> String {
        c >= 0x21 && c < 0x7F ? "'\(Character(Unicode.Scalar(c)))'" : "byte 0x\(String(c, radix: 16))"
    }

    private func failure(_ message: String, at offset: Int? = nil) -> JSONSyntaxError {
        JSONSyntaxError(offset: offset ?? i, message: message, key: key)
    }

    private mutating func skipSpace() {
        while i < end && JSONParser.isSpace(b[i]) { i += 1 }
    }

    /// One value and nothing after it but white space.
    package mutating func document() throws(JSONSyntaxError) -> JSONValue {
        let v = try value()
        key = nil
        try finish()
        return v
    }

    /// Nothing but white space up to the end.
    package mutating func finish() throws(JSONSyntaxError) {
        skipSpace()
        guard i == end else { throw failure("unexpected \(JSONParser.describe(b[i])) after the value") }
    }

    /// One element of a top-level array (parsed one level deep, as the array's own
    /// parser would); the caller reads what follows it.
    mutating func element() throws(JSONSyntaxError) -> JSONValue {
        depth = 1
        defer { depth = 0 }
        return try value()
    }

    /// The next value, whole.
    package mutating func value() throws(JSONSyntaxError) -> JSONValue {
        skipSpace()
        guard i < end else { throw failure("unexpected end of input") }
        switch b[i] {
        case UInt8(ascii: "{"): return try object()
        case UInt8(ascii: "["): return try array()
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        default: throw failure("unexpected \(JSONParser.describe(b[i]))")
        }
    }

    private mutating func literal(_ word: StaticString) throws(JSONSyntaxError) {
        let n = word.utf8CodeUnitCount
        guard end - i >= n else { throw failure("unexpected end of input") }
        for k in 0..<n where b[i + k] != word.utf8Start[k] { throw failure("unexpected \(JSONParser.describe(b[i]))") }
        i += n
    }

    private mutating func object() throws(JSONSyntaxError) -> JSONValue {
        var pairs: [(key: String, value: JSONValue)] = []
        // An event has up to eleven keys: one allocation instead of five growths.
        if depth == 0 { pairs.reserveCapacity(12) }
        try members { (p, k) throws(JSONSyntaxError) in pairs.append((k, try p.value())) }
        return .object(pairs)
    }

    private mutating func array() throws(JSONSyntaxError) -> JSONValue {
        var items: [JSONValue] = []
        try elements { (p) throws(JSONSyntaxError) in items.append(try p.value()) }
        return .array(items)
    }

    /// The next value, which must be an object, a member at a time: `member` is given
    /// the parser before each member's value, with its key, and must read that value
    /// (with ``value()``, or ``members(_:)``/``elements(_:)`` for a large one).
    package mutating func members(
        _ member: (inout JSONParser, String) throws(JSONSyntaxError) -> Void
    ) throws(JSONSyntaxError) {
        try open(UInt8(ascii: "{"), "an object")
        defer { depth -= 1 }
        skipSpace()
        if i < end && b[i] == UInt8(ascii: "}") { i += 1; return }
        while true {
            skipSpace()
            guard i < end else { throw failure("unexpected end of input (the object is not closed)") }
            guard b[i] == UInt8(ascii: "\"") else { throw failure("expected a key in quotes, found \(JSONParser.describe(b[i]))") }
            let k = try string()
            skipSpace()
            guard i < end, b[i] == UInt8(ascii: ":") else { throw failure("expected ':' after the key") }
            i += 1
            if depth == 1 { key = k }
            try member(&self, k)
            skipSpace()
            guard i < end else { throw failure("unexpected end of input (the object is not closed)") }
            if b[i] == UInt8(ascii: ",") { i += 1; continue }
            if b[i] == UInt8(ascii: "}") { i += 1; return }
            throw failure("expected ',' or '}', found \(JSONParser.describe(b[i]))")
        }
    }

    /// The next value, which must be an array, an element at a time: `element` is given
    /// the parser before each element and must read it, as ``members(_:)``'s `member`.
    package mutating func elements(_ element: (inout JSONParser) throws(JSONSyntaxError) -> Void) throws(JSONSyntaxError) {
        try open(UInt8(ascii: "["), "an array")
        defer { depth -= 1 }
        skipSpace()
        if i < end && b[i] == UInt8(ascii: "]") { i += 1; return }
        while true {
            try element(&self)
            skipSpace()
            guard i < end else { throw failure("unexpected end of input (the array is not closed)") }
            if b[i] == UInt8(ascii: ",") { i += 1; continue }
            if b[i] == UInt8(ascii: "]") { i += 1; return }
            throw failure("expected ',' or ']', found \(JSONParser.describe(b[i]))")
        }
    }

    /// Steps into an object or an array (`bracket` is its first byte), one level deeper.
    private mutating func open(_ bracket: UInt8, _ what: String) throws(JSONSyntaxError) {
        skipSpace()
        guard i < end else { throw failure("unexpected end of input") }
        guard b[i] == bracket else { throw failure("expected \(what), found \(JSONParser.describe(b[i]))") }
        guard depth < ImportedEvents.maxDepth else { throw failure("nested more than \(ImportedEvents.maxDepth) levels deep") }
        i += 1
        depth += 1
    }

    private mutating func number() throws(JSONSyntaxError) -> JSONNumber {
        let start = i
        var isInteger = true
        func isDigit(_ k: Int) -> Bool { k < end && b[k] >= UInt8(ascii: "0") && b[k] <= UInt8(ascii: "9") }
        if b[i] == UInt8(ascii: "-") { i += 1 }
        guard isDigit(i) else { throw failure("expected a digit") }
        if b[i] == UInt8(ascii: "0") {
            i += 1
            if isDigit(i) { throw failure("a number must not start with 0") }
        } else {
            while isDigit(i) { i += 1 }
        }
        if i < end && b[i] == UInt8(ascii: ".") {
            isInteger = false
            i += 1
            guard isDigit(i) else { throw failure("expected a digit after '.'") }
            while isDigit(i) { i += 1 }
        }
        if i < end && (b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E")) {
            isInteger = false
            i += 1
            if i < end && (b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-")) { i += 1 }
            guard isDigit(i) else { throw failure("expected a digit in the exponent") }
            while isDigit(i) { i += 1 }
        }
        return JSONNumber(text: String(decoding: UnsafeBufferPointer(rebasing: b[start..<i]), as: UTF8.self), isInteger: isInteger)
    }

    /// A string (the current byte is `"`), escapes decoded, checked to be valid UTF-8.
    private mutating func string() throws(JSONSyntaxError) -> String {
        let start = i
        i += 1
        var runStart = i
        var decoded: [UInt8]? = nil
        while true {
            guard i < end else { throw failure("unterminated string", at: start) }
            let c = b[i]
            if c == UInt8(ascii: "\"") { break }
            if c < 0x20 { throw failure("a control character (byte 0x\(String(c, radix: 16))) must be escaped in a string") }
            if c != UInt8(ascii: "\\") { i += 1; continue }
            if decoded == nil { decoded = [] }
            decoded!.append(contentsOf: UnsafeBufferPointer(rebasing: b[runStart..<i]))
            i += 1
            guard i < end else { throw failure("unterminated string", at: start) }
            let e = b[i]
            i += 1
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): decoded!.append(e)
            case UInt8(ascii: "b"): decoded!.append(0x08)
            case UInt8(ascii: "f"): decoded!.append(0x0C)
            case UInt8(ascii: "n"): decoded!.append(0x0A)
            case UInt8(ascii: "r"): decoded!.append(0x0D)
            case UInt8(ascii: "t"): decoded!.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if (0xD800...0xDBFF).contains(scalar) {
                    guard end - i >= 6, b[i] == UInt8(ascii: "\\"), b[i + 1] == UInt8(ascii: "u") else {
                        throw failure("a high surrogate escape must be followed by a low surrogate escape")
                    }
                    i += 2
                    let low = try hex4()
                    guard (0xDC00...0xDFFF).contains(low) else {
                        throw failure("a high surrogate escape must be followed by a low surrogate escape")
                    }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(scalar) {
                    throw failure("a low surrogate escape without a high one")
                }
                // Valid by construction: surrogates were excluded above.
                for unit in UTF8.encode(Unicode.Scalar(scalar)!)! { decoded!.append(unit) }
            default:
                throw failure("unknown escape \\\(Character(Unicode.Scalar(e)))")
            }
            runStart = i
        }
        let raw = UnsafeBufferPointer(rebasing: b[runStart..<i])
        i += 1
        if decoded == nil {
            guard JSONParser.isValidUTF8(raw) else { throw failure("invalid UTF-8 in a string", at: start) }
            return String(decoding: raw, as: UTF8.self)
        }
        decoded!.append(contentsOf: raw)
        return try decoded!.withUnsafeBufferPointer { (d: UnsafeBufferPointer<UInt8>) throws(JSONSyntaxError) -> String in
            guard JSONParser.isValidUTF8(d) else { throw failure("invalid UTF-8 in a string", at: start) }
            return String(decoding: d, as: UTF8.self)
        }
    }

    private mutating func hex4() throws(JSONSyntaxError) -> UInt32 {
        guard end - i >= 4 else { throw failure("expected four hexadecimal digits after \\u") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = b[i]
            let d: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
            default: throw failure("expected four hexadecimal digits after \\u")
            }
            v = v << 4 | d
            i += 1
        }
        return v
    }

    /// Finds where a value ends without parsing it, in input that arrives in pieces: a
    /// light scan of brackets and strings, so that a reader can buffer the whole value
    /// before parsing it once. Bytes are fed in order; what they hold is checked only by
    /// the parse that follows.
    struct ExtentScanner {
        private var depth = 0, inString = false, escaped = false
        /// Once ``scan(_:from:to:)`` returned true: the index just after the value's
        /// last byte.
        private(set) var end = 0

        /// Scans `b[from..<to]`, the bytes that follow those scanned before.
        /// - Returns: whether the value ends in them (its last byte, or the byte after a
        ///   number or literal, is among them).
        mutating func scan(_ b: UnsafeBufferPointer<UInt8>, from: Int, to: Int) -> Bool {
            var k = from
            while k < to {
                let c = b[k]
                k += 1
                if inString {
                    if escaped { escaped = false } else if c == UInt8(ascii: "\\") { escaped = true } else if c == UInt8(ascii: "\"") {
                        inString = false
                        if depth == 0 { end = k; return true }
                    }
                    continue
                }
                switch c {
                case UInt8(ascii: "\""): inString = true
                case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    depth -= 1
                    if depth <= 0 { end = depth < 0 ? k - 1 : k; return true }
                case UInt8(ascii: ","), 0x20, 0x0A, 0x0D, 0x09, UInt8(ascii: ":"):
                    if depth == 0 { end = k - 1; return true }
                default:
                    break
                }
            }
            return false
        }
    }

    /// Whether `s` is well-formed UTF-8 (Unicode table 3-7: no overlong forms, no
    /// surrogates, nothing above U+10FFFF, no truncated sequences).
    static func isValidUTF8(_ s: UnsafeBufferPointer<UInt8>) -> Bool {
        var k = 0
        let n = s.count
        while k < n {
            let c = s[k]
            if c < 0x80 { k += 1; continue }
            func cont(_ j: Int, _ lo: UInt8 = 0x80, _ hi: UInt8 = 0xBF) -> Bool { j < n && s[j] >= lo && s[j] <= hi }
            switch c {
            case 0xC2...0xDF:
                guard cont(k + 1) else { return false }
                k += 2
            case 0xE0:
                guard cont(k + 1, 0xA0), cont(k + 2) else { return false }
                k += 3
            case 0xE1...0xEC, 0xEE...0xEF:
                guard cont(k + 1), cont(k + 2) else { return false }
                k += 3
            case 0xED:
                guard cont(k + 1, 0x80, 0x9F), cont(k + 2) else { return false }
                k += 3
            case 0xF0:
                guard cont(k + 1, 0x90), cont(k + 2), cont(k + 3) else { return false }
                k += 4
            case 0xF1...0xF3:
                guard cont(k + 1), cont(k + 2), cont(k + 3) else { return false }
                k += 4
            case 0xF4:
                guard cont(k + 1, 0x80, 0x8F), cont(k + 2), cont(k + 3) else { return false }
                k += 4
            default:
                return false
            }
        }
        return true
    }
}
