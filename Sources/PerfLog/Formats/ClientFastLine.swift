/// The lines perflog's own clients send `perflog serve`, read straight from their bytes:
///
///     {"kind":"mark","agent":A,"cli":C,"invocation":I,"time":T,"pid":P}
///     {"kind":"measure","agent":A,"cli":C,"invocation":I,"durationMs":D,"outcome":O[,"exitCode":E][,"signal":S],"time":T,"pid":P}
///
/// keys in that order, no white space, printable ASCII strings without escapes, no
/// `meta`. Anything else, valid or not, is left to the general parser, which also words
/// every error; for any line this accepts, both give the same event.
package enum ClientFastLine {
    /// The event of line `[start, end)`, or `nil` to leave it to the general parser.
    package static func event(_ b: UnsafeBufferPointer<UInt8>, from start: Int, to end: Int) -> Event? {
        var s = FastLineScanner(b, from: start, to: end)
        let kind: Event.Kind
        if s.literal("{\"kind\":\"mark\",\"agent\":") { kind = .mark } else if s.literal("{\"kind\":\"measure\",\"agent\":") {
            kind = .measure
        } else {
            return nil
        }
        guard let agent = s.plainString(), s.literal(",\"cli\":"), let cli = s.plainString(),
              s.literal(",\"invocation\":"), let invocation = s.invocation(),
              !agent.isEmpty, !cli.isEmpty, agent.count <= StreamName.maxBytes, cli.count <= StreamName.maxBytes
        else { return nil }
        var durationNs: UInt64 = 0
        var outcome = Outcome.ok
        var exitCode: Int32?
        var signal: Int32?
        if kind == .measure {
            guard s.literal(",\"durationMs\":"), let d = s.milliseconds(rounding: true) else { return nil }
            durationNs = d
            if s.literal(",\"outcome\":\"ok\"") { outcome = .ok } else if s.literal(",\"outcome\":\"failed\"") { outcome = .failed } else { return nil }
            if s.literal(",\"exitCode\":") {
                guard let v = s.integer(), let v32 = Int32(exactly: v) else { return nil }
                exitCode = v32
            }
            // A signal only where the general parser allows it; the rest is its to word.
            if s.literal(",\"signal\":") {
                guard let v = s.integer(), v >= 1, v <= Int64(Event.maxSignal), outcome == .failed, exitCode == nil else { return nil }
                signal = Int32(v)
            }
        }
        guard s.literal(",\"time\":"), let t = s.plainString(),
              let time = ISO8601.parse(UnsafeBufferPointer(rebasing: b[t]), allowOffset: true),
              s.literal(",\"pid\":"), let p = s.integer(), let pid = Int32(exactly: p),
              s.literal("}"), s.atEnd
        else { return nil }
        // Printable ASCII without escapes: only StreamName's length rules can fail, checked above.
        let stream = StreamName(unchecked: s.text(agent), cli: s.text(cli))
        switch kind {
        case .mark:
            return .mark(stream, invocation: invocation, wallTimeNs: time, pid: pid)
        case .measure:
            return .measure(stream, invocation: invocation, durationNs: durationNs, outcome: outcome,
                            exitCode: exitCode, signal: signal, wallTimeNs: time, pid: pid)
        }
    }
}
