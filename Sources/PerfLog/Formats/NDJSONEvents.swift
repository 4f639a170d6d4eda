// MARK: - Records

/// The fields of one NDJSON event object, each checked against its own rule.
package struct EventFields {
    package var time: Int64?
    package var kind: Event.Kind?
    package var agent: String?
    package var cli: String?
    package var invocation: InvocationID?
    package var durationNs: UInt64?
    package var outcome: Outcome?
    package var exitCode: Int32?
    /// The signal that ended a failed measure (1 to ``Event/maxSignal``).
    package var signal: Int32?
    package var pid: Int32?
    package var meta: Metadata
}

/// Turns a parsed NDJSON object into an event, checking every field.
package enum EventRecordFields {
    static let keys = ["seq", "time", "kind", "agent", "cli", "invocation", "durationMs", "outcome", "exitCode", "signal", "pid", "meta"]

    /// Every field present, each checked on its own, and `signal` against the fields it
    /// excludes (a mark, outcome `ok`, an `exitCode`); which are required is the
    /// caller's rule. An error names `line` and the field.
    package static func fields(_ pairs: [(key: String, value: JSONValue)], line: Int) throws(PerfLogError) -> EventFields {
        func fail(_ field: String, _ rule: String) -> PerfLogError { .invalidLine(line: line, field: field, rule: rule) }

        var time: Int64?, kind: Event.Kind?, agent: String?, cli: String?, invocation: InvocationID?
        var durationNs: UInt64?, outcome: Outcome?, exitCode: Int32?, signal: Int32?, pid: Int32?, meta = Metadata()
        // Known keys are told apart by a bit each (a set of strings cost a third of the
        // time of parsing a line); an unknown key is refused below, so it needs no bit.
        var seen: UInt16 = 0
        for (key, value) in pairs {
            if let bit = keys.firstIndex(of: key) {
                guard seen & (1 << bit) == 0 else { throw fail(key, "appears twice") }
                seen |= 1 << bit
            }
            switch key {
            case "seq":
                guard case .number = value else { throw fail(key, "must be a number (got \(value.typeName))") }
            case "time":
                guard case .string(let s) = value, let t = ISO8601.parse(s, allowOffset: true) else {
                    throw fail(key, "must be an ISO 8601 time such as \"2026-01-19T20:50:24.123456Z\" or \"2026-01-19T21:50:24.123456+01:00\"")
                }
                time = t
            case "kind":
                guard case .string(let s) = value, let k = Event.Kind(rawValue: s) else {
                    throw fail(key, "must be \"mark\" or \"measure\"")
                }
                kind = k
            case "agent", "cli":
                guard case .string(let s) = value else { throw fail(key, "must be a string (got \(value.typeName))") }
                do { try StreamName.validate(s, field: key) } catch { throw fail(key, rule(of: error)) }
                if key == "agent" { agent = s } else { cli = s }
            case "invocation":
                guard case .string(let s) = value, let id = hexInvocation(s) else {
                    throw fail(key, "must be 1 to 16 hexadecimal digits")
                }
                invocation = id
            case "durationMs":
                guard case .number(let n) = value else { throw fail(key, "must be a number of milliseconds (got \(value.typeName))") }
                durationNs = try nanoseconds(fromMilliseconds: n) { rule throws(PerfLogError) in throw fail(key, rule) }
            case "outcome":
                guard case .string(let s) = value, let o = Outcome(rawValue: s) else { throw fail(key, "must be \"ok\" or \"failed\"") }
                outcome = o
            case "exitCode", "pid":
                guard case .number(let n) = value, n.isInteger, let v = n.integer(), let v32 = Int32(exactly: v) else {
                    throw fail(key, "must be an integer from \(Int32.min) to \(Int32.max)")
                }
                if key == "pid" { pid = v32 } else { exitCode = v32 }
            case "signal":
                guard case .number(let n) = value, n.isInteger, let v = n.integer(), v >= 1, v <= Int64(Event.maxSignal) else {
                    throw fail(key, "must be a signal number, an integer from 1 to \(Event.maxSignal)")
                }
                signal = Int32(v)
            case "meta":
                guard case .object(let entries) = value else { throw fail(key, "must be an object of strings (got \(value.typeName))") }
                var strings: [(String, String)] = []
                var metaKeys = Set<String>()
                for (k, v) in entries {
                    guard metaKeys.insert(k).inserted else { throw fail("meta.\(k)", "appears twice") }
                    guard case .string(let s) = v else { throw fail("meta.\(k)", "must be a string (got \(v.typeName))") }
                    strings.append((k, s))
                }
                do { meta = try Metadata.validated(strings) } catch {
                    guard case .invalidInput(let field, let rule) = error else { throw error }
                    throw fail(field, rule)
                }
            default:
                throw fail(key, "is not a field of perflog's NDJSON (expected one of \(keys.joined(separator: ", ")))")
            }
        }
        // A signal means the process did not exit: it failed, without an exit status.
        if signal != nil {
            if kind == .mark { throw fail("signal", "only a measure has one (this is a mark)") }
            if exitCode != nil { throw fail("signal", "excludes exitCode (a process ended by a signal has no exit status)") }
            if outcome == .ok { throw fail("signal", "needs outcome \"failed\" (a process ended by a signal failed)") }
        }
        return EventFields(time: time, kind: kind, agent: agent, cli: cli, invocation: invocation, durationNs: durationNs,
                           outcome: outcome, exitCode: exitCode, signal: signal, pid: pid, meta: meta)
    }

    /// An event of perflog's NDJSON: every field required except `seq`, `exitCode`,
    /// `signal` and `meta`.
    static func event(_ pairs: [(key: String, value: JSONValue)], line: Int) throws(PerfLogError) -> Event {
        func fail(_ field: String, _ rule: String) -> PerfLogError { .invalidLine(line: line, field: field, rule: rule) }
        let f = try fields(pairs, line: line)
        let (time, kind, agent, cli, invocation, durationNs, outcome, exitCode, signal, pid, meta) =
            (f.time, f.kind, f.agent, f.cli, f.invocation, f.durationNs, f.outcome, f.exitCode, f.signal, f.pid, f.meta)
        guard let time else { throw fail("time", "is missing") }
        guard let kind else { throw fail("kind", "is missing") }
        guard let agent else { throw fail("agent", "is missing") }
        guard let cli else { throw fail("cli", "is missing") }
        guard let invocation else { throw fail("invocation", "is missing") }
        guard let pid else { throw fail("pid", "is missing") }
        let stream = StreamName(unchecked: agent, cli: cli)
        switch kind {
        case .mark:
            if durationNs != nil { throw fail("durationMs", "only a measure has one (this is a mark)") }
            if outcome != nil { throw fail("outcome", "only a measure has one (this is a mark)") }
            var mark = Event.mark(stream, invocation: invocation, wallTimeNs: time, pid: pid, meta: meta)
            mark.exitCode = exitCode
            return mark
        case .measure:
            guard let durationNs else { throw fail("durationMs", "is missing (a measure has one)") }
            guard let outcome else { throw fail("outcome", "is missing (a measure has one)") }
            return .measure(stream, invocation: invocation, durationNs: durationNs, outcome: outcome, exitCode: exitCode,
                            signal: signal, wallTimeNs: time, pid: pid, meta: meta)
        }
    }

    /// 1 to 16 hexadecimal digits, either case, nothing else (no sign, no prefix).
    static func hexInvocation(_ s: String) -> InvocationID? {
        var v: UInt64 = 0
        var n = 0
        for c in s.utf8 {
            n += 1
            guard n <= 16, let d = hexValue(c) else { return nil }
            v = v << 4 | UInt64(d)
        }
        return n == 0 ? nil : InvocationID(rawValue: v)
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

/// The rule of an `invalidInput` error (the field is renamed by the caller).
func rule(of error: PerfLogError) -> String {
    if case .invalidInput(_, let rule) = error { return rule }
    return error.description
}

/// A duration in milliseconds as whole nanoseconds (halves rounded up).
func nanoseconds(
    fromMilliseconds n: JSONNumber, fail: (String) throws(PerfLogError) -> Never
) throws(PerfLogError) -> UInt64 {
    guard let v = n.scaled(byPowerOfTen: 6) else {
        // Exports round to the microsecond, which takes the very largest durations just
        // past UInt64.max nanoseconds; they still import, as the largest duration.
        if let us = n.scaled(byPowerOfTen: 3), !us.negative, us.magnitude <= UInt64.max / 1000 + 1 { return .max }
        try fail("is too large (at most \(JSONBuffer.text { $0.decimal(UInt64.max, places: 6) }) ms)")
    }
    if v.negative { try fail("must not be negative") }
    return v.magnitude
}
