/// The common NDJSON line, a measure in exactly the shape ``Event/jsonLine`` writes
/// (keys in its order, no white space, printable ASCII strings without escapes), read
/// straight from its bytes: no JSON tree and no strings for keys. Anything else, valid or
/// not, is left to the general parser (``ImportedEvents/ndjsonLine(_:from:to:line:)``),
/// which also words every error, so both give the same event for any line this accepts.
struct ImportFastLine {
    /// Stream names by the bytes they were read from, so that a stream seen before costs
    /// no new strings: slots chosen by a hash of the bytes, a miss replaces the slot.
    private var names: [(bytes: [UInt8], stream: StreamName)?] = Array(repeating: nil, count: 4096)

    /// The event of line `[start, end)`, or `nil` to leave it to the general parser.
    mutating func event(_ b: UnsafeBufferPointer<UInt8>, from start: Int, to end: Int) -> Event? {
        var end = end
        if end > start && b[end - 1] == 0x0D { end -= 1 }
        guard end - start <= ImportedEvents.maxLineBytes else { return nil }
        var i = start
        func literal(_ s: StaticString) -> Bool {
            let n = s.utf8CodeUnitCount
            guard end - i >= n else { return false }
            for k in 0..<n where b[i + k] != s.utf8Start[k] { return false }
            i += n
            return true
        }
        /// A string of printable ASCII other than `"` and `\`: its byte range.
        func plainString() -> Range<Int>? {
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
        /// A JSON integer: the value, or `nil` (leading zeros, `-0` or more than 18
        /// digits go to the general parser).
        func integer() -> Int64? {
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
        func digits(_ r: Range<Int>) -> Int64? {
            var v: Int64 = 0
            for k in r {
                guard b[k] >= UInt8(ascii: "0"), b[k] <= UInt8(ascii: "9") else { return nil }
                v = v * 10 + Int64(b[k] - UInt8(ascii: "0"))
            }
            return v
        }

        guard literal("{\"seq\":"), let seq = integer(), seq >= 0, literal(",\"time\":"), let t = plainString(),
              let time = ISO8601.parse(UnsafeBufferPointer(rebasing: b[t]), allowOffset: false),
              literal(",\"kind\":\"measure\",\"agent\":"), let agent = plainString(), literal(",\"cli\":"),
              let cli = plainString(), literal(",\"invocation\":"), let inv = plainString(),
              (1...16).contains(inv.count), literal(",\"durationMs\":")
        else { return nil }
        var invocation: UInt64 = 0
        for k in inv {
            let c = b[k] | 0x20
            let d: UInt8
            if c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") { d = c - UInt8(ascii: "0") } else if c >= UInt8(ascii: "a") && c <= UInt8(ascii: "f") {
                d = c - UInt8(ascii: "a") + 10
            } else {
                return nil
            }
            invocation = invocation << 4 | UInt64(d)
        }
        // Milliseconds: an integer of at most twelve digits and up to six decimals is
        // exact in nanoseconds.
        let whole = i
        while i < end, b[i] >= UInt8(ascii: "0"), b[i] <= UInt8(ascii: "9") { i += 1 }
        guard i > whole, i - whole <= 12, !(b[whole] == UInt8(ascii: "0") && i - whole > 1),
              var durationNs = digits(whole..<i).map({ UInt64($0) * 1_000_000 })
        else { return nil }
        if i < end && b[i] == UInt8(ascii: ".") {
            i += 1
            let from = i
            while i < end, b[i] >= UInt8(ascii: "0"), b[i] <= UInt8(ascii: "9") { i += 1 }
            guard i > from, i - from <= 6, var fraction = digits(from..<i) else { return nil }
            for _ in (i - from)..<6 { fraction *= 10 }
            durationNs += UInt64(fraction)
        }
        let outcome: Outcome
        if literal(",\"outcome\":\"ok\"") { outcome = .ok } else if literal(",\"outcome\":\"failed\"") { outcome = .failed } else { return nil }
        var exitCode: Int32?
        if literal(",\"exitCode\":") {
            guard let v = integer(), let v32 = Int32(exactly: v) else { return nil }
            exitCode = v32
        }
        guard literal(",\"pid\":"), let p = integer(), let pid = Int32(exactly: p) else { return nil }
        var meta = Metadata()
        if literal(",\"meta\":{") {
            var pairs: [(String, String)] = []
            while true {
                guard let k = plainString(), literal(":"), let v = plainString() else { return nil }
                let key = String(decoding: UnsafeBufferPointer(rebasing: b[k]), as: UTF8.self)
                guard !pairs.contains(where: { $0.0 == key }) else { return nil }
                pairs.append((key, String(decoding: UnsafeBufferPointer(rebasing: b[v]), as: UTF8.self)))
                if literal(",") { continue }
                guard literal("}") else { return nil }
                break
            }
            guard let m = try? Metadata.validated(pairs) else { return nil }
            meta = m
        }
        guard literal("}"), i == end, let stream = stream(b, agent, cli) else { return nil }
        return .measure(stream, invocation: InvocationID(rawValue: invocation), durationNs: durationNs, outcome: outcome,
                        exitCode: exitCode, wallTimeNs: time, pid: pid, meta: meta)
    }

    /// The stream of these names, from the cache when the same bytes were seen before.
    private mutating func stream(_ b: UnsafeBufferPointer<UInt8>, _ agent: Range<Int>, _ cli: Range<Int>) -> StreamName? {
        guard !agent.isEmpty, !cli.isEmpty, agent.count <= StreamName.maxBytes, cli.count <= StreamName.maxBytes else { return nil }
        var fnv = FNV1a()
        fnv.mix(UnsafeBufferPointer(rebasing: b[agent]))
        fnv.mix(0)
        fnv.mix(UnsafeBufferPointer(rebasing: b[cli]))
        let h = fnv.value
        let slot = Int(truncatingIfNeeded: h ^ (h >> 29)) & (names.count - 1)
        if let cached = names[slot], cached.bytes.count == agent.count + 1 + cli.count {
            let same = cached.bytes.withUnsafeBufferPointer { c in
                var k = 0
                for j in agent { if c[k] != b[j] { return false }; k += 1 }
                if c[k] != 0 { return false }
                k += 1
                for j in cli { if c[k] != b[j] { return false }; k += 1 }
                return true
            }
            if same { return cached.stream }
        }
        // Printable ASCII without escapes: only StreamName's length rule can fail, checked above.
        let stream = StreamName(unchecked: String(decoding: UnsafeBufferPointer(rebasing: b[agent]), as: UTF8.self),
                                cli: String(decoding: UnsafeBufferPointer(rebasing: b[cli]), as: UTF8.self))
        names[slot] = (Array(UnsafeBufferPointer(rebasing: b[agent])) + [0] + Array(UnsafeBufferPointer(rebasing: b[cli])), stream)
        return stream
    }
}
