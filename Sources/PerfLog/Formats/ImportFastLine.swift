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
        var s = FastLineScanner(b, from: start, to: end)
        guard s.end - start <= ImportedEvents.maxLineBytes else { return nil }
        guard s.literal("{\"seq\":"), let seq = s.integer(), seq >= 0, s.literal(",\"time\":"), let t = s.plainString(),
              let time = ISO8601.parse(UnsafeBufferPointer(rebasing: b[t]), allowOffset: false),
              s.literal(",\"kind\":\"measure\",\"agent\":"), let agent = s.plainString(), s.literal(",\"cli\":"),
              let cli = s.plainString(), s.literal(",\"invocation\":"), let invocation = s.invocation(),
              s.literal(",\"durationMs\":"), let durationNs = s.milliseconds(rounding: false)
        else { return nil }
        let outcome: Outcome
        if s.literal(",\"outcome\":\"ok\"") { outcome = .ok } else if s.literal(",\"outcome\":\"failed\"") { outcome = .failed } else { return nil }
        var exitCode: Int32?
        var signal: Int32?
        if s.literal(",\"exitCode\":") {
            guard let v = s.integer(), let v32 = Int32(exactly: v) else { return nil }
            exitCode = v32
        }
        // A signal only where the general parser allows it; the rest is its to word.
        if s.literal(",\"signal\":") {
            guard let v = s.integer(), v >= 1, v <= Int64(Event.maxSignal), outcome == .failed, exitCode == nil else { return nil }
            signal = Int32(v)
        }
        guard s.literal(",\"pid\":"), let p = s.integer(), let pid = Int32(exactly: p) else { return nil }
        var meta = Metadata()
        if s.literal(",\"meta\":{") {
            var pairs: [(String, String)] = []
            while true {
                guard let k = s.plainString(), s.literal(":"), let v = s.plainString() else { return nil }
                let key = s.text(k)
                guard !pairs.contains(where: { $0.0 == key }) else { return nil }
                pairs.append((key, s.text(v)))
                if s.literal(",") { continue }
                guard s.literal("}") else { return nil }
                break
            }
            guard let m = try? Metadata.validated(pairs) else { return nil }
            meta = m
        }
        guard s.literal("}"), s.atEnd, let stream = stream(b, agent, cli) else { return nil }
        return .measure(stream, invocation: invocation, durationNs: durationNs, outcome: outcome,
                        exitCode: exitCode, signal: signal, wallTimeNs: time, pid: pid, meta: meta)
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
