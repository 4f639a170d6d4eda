import PerfLog
@testable import PerfLogService
import PerfLogTestSupport
import Testing

/// Lines as a service receives them, parsed with fixed clocks.
enum ServiceLine {
    /// When the lines are received (wall clock): the time of an event that gives none.
    static let receivedWallNs: Int64 = 1_768_855_900_000_000_000
    /// `2026-01-19T20:50:24.123456Z`.
    static let t: Int64 = 1_768_855_824_123_456_000
    /// What `newInvocation` gives unless a test says otherwise.
    static let fresh = InvocationID(rawValue: 0xF4E5_D6C7_B8A9_0001)

    static func stream(_ agent: String, _ cli: String) -> StreamName { StreamName(unchecked: agent, cli: cli) }

    static func parse(
        _ text: String, number: Int = 7, newInvocation: () -> InvocationID = { fresh }
    ) -> Result<IncomingEvent?, PerfLogError> {
        parse(Array(text.utf8), number: number, newInvocation: newInvocation)
    }

    static func parse(
        _ bytes: [UInt8], number: Int = 7, newInvocation: () -> InvocationID = { fresh }
    ) -> Result<IncomingEvent?, PerfLogError> {
        bytes.withUnsafeBytes { raw in parse(raw, number: number, newInvocation: newInvocation) }
    }

    static func parse(
        _ raw: UnsafeRawBufferPointer, number: Int, newInvocation: () -> InvocationID = { fresh }
    ) -> Result<IncomingEvent?, PerfLogError> {
        do {
            return .success(try IncomingEvent.parse(line: raw, number: number, receivedWallNs: receivedWallNs,
                                                    newInvocation: newInvocation))
        } catch {
            return .failure(error)
        }
    }
}

struct ValidServiceLine: Sendable, CustomTestStringConvertible {
    var name: String
    var line: String
    var expected: IncomingEvent
    var testDescription: String { name }
}

struct InvalidServiceLine: Sendable, CustomTestStringConvertible {
    var name: String
    var line: String
    /// The field the error names after `line N: `, or `nil` when it names the whole line.
    var field: String?
    var testDescription: String { name }
}

@Suite("Service lines")
struct IncomingEventTests {
    static let planner = ServiceLine.stream("planner", "claude")
    static let t = ServiceLine.t
    static let received = ServiceLine.receivedWallNs

    static func mark(exitCode: Int32?, _ e: Event) -> Event { var e = e; e.exitCode = exitCode; return e }

    static let valid: [ValidServiceLine] = [
        ValidServiceLine(
            name: "a mark with only what it needs: time received, pid 0",
            line: #"{"kind":"mark","agent":"planner","cli":"claude","invocation":"aa"}"#,
            expected: .complete(.mark(planner, invocation: InvocationID(rawValue: 0xAA), wallTimeNs: received, pid: 0))),
        ValidServiceLine(
            name: "a mark with every field; seq ignored, exitCode kept",
            line: #"{"seq":1042,"time":"2026-01-19T20:50:24.123456Z","kind":"mark","agent":"planner","cli":"claude","invocation":"6F1C2A9E0B3D4471","exitCode":0,"pid":4242,"meta":{"model":"opus","k":"v,\"q\""}}"#,
            expected: .complete(mark(exitCode: 0, .mark(planner, invocation: InvocationID(rawValue: 0x6F1C_2A9E_0B3D_4471),
                                                        wallTimeNs: t, pid: 4242, meta: ["model": "opus", "k": "v,\"q\""])))),
        ValidServiceLine(
            name: "white space around the object and a trailing CR",
            line: " \t{ \"kind\" : \"mark\" , \"agent\":\"planner\",\"cli\":\"claude\",\"invocation\":\"aa\" } \r",
            expected: .complete(.mark(planner, invocation: InvocationID(rawValue: 0xAA), wallTimeNs: received, pid: 0))),
        ValidServiceLine(
            name: "keys in any order, escapes in names, nanoseconds in the time",
            line: #"{"invocation":"1","pid":-3,"cli":"g\u00e9mini \u2603","time":"2026-01-19T20:50:24.123456789Z","agent":"r\u00e9v \"x\"","kind":"mark"}"#,
            expected: .complete(.mark(ServiceLine.stream("rév \"x\"", "gémini ☃"), invocation: InvocationID(rawValue: 1),
                                      wallTimeNs: t + 789, pid: -3))),
        ValidServiceLine(
            name: "a measure timed by the client without invocation gets a new one",
            line: #"{"kind":"measure","agent":"coder","cli":"codex","durationMs":812.413,"outcome":"failed"}"#,
            expected: .complete(.measure(ServiceLine.stream("coder", "codex"), invocation: ServiceLine.fresh, durationNs: 812_413_000,
                                         outcome: .failed, wallTimeNs: received, pid: 0))),
        ValidServiceLine(
            name: "a measure with every field keeps its invocation; seq ignored",
            line: #"{"seq":7,"time":"2026-01-19T20:50:24.123456Z","kind":"measure","agent":"planner","cli":"claude","invocation":"beef","durationMs":1e3,"outcome":"ok","exitCode":-2,"pid":42,"meta":{"model":"opus"}}"#,
            expected: .complete(.measure(planner, invocation: InvocationID(rawValue: 0xBEEF), durationNs: 1_000_000_000, outcome: .ok,
                                         exitCode: -2, wallTimeNs: t, pid: 42, meta: ["model": "opus"]))),
        ValidServiceLine(
            name: "a duration of minus zero is zero",
            line: #"{"kind":"measure","agent":"planner","cli":"claude","invocation":"1","durationMs":-0,"outcome":"ok"}"#,
            expected: .complete(.measure(planner, invocation: InvocationID(rawValue: 1), durationNs: 0, outcome: .ok,
                                         wallTimeNs: received, pid: 0))),
        ValidServiceLine(
            name: "a duration kept to the nanosecond",
            line: #"{"kind":"measure","agent":"planner","cli":"claude","durationMs":0.0005,"outcome":"ok","pid":0}"#,
            expected: .complete(.measure(planner, invocation: ServiceLine.fresh, durationNs: 500, outcome: .ok,
                                         wallTimeNs: received, pid: 0))),
        ValidServiceLine(
            name: "a measure with invocation and no duration ends a mark",
            line: #"{"kind":"measure","invocation":"BEEF","outcome":"ok"}"#,
            expected: .ending(IncomingEvent.Ending(invocation: InvocationID(rawValue: 0xBEEF), stream: nil, outcome: .ok, exitCode: nil,
                                                   wallTimeNs: nil, pid: 0, meta: Metadata()))),
        ValidServiceLine(
            name: "an ending with its stream, time, exit code, pid and meta",
            line: #"{"seq":3,"time":"2026-01-19T20:50:24.123456Z","kind":"measure","agent":"planner","cli":"claude","invocation":"00000000000000aa","outcome":"failed","exitCode":1,"pid":9,"meta":{"model":"opus"}}"#,
            expected: .ending(IncomingEvent.Ending(invocation: InvocationID(rawValue: 0xAA), stream: planner, outcome: .failed, exitCode: 1,
                                                   wallTimeNs: t, pid: 9, meta: ["model": "opus"]))),
        ValidServiceLine(
            name: "a measure ended by a signal",
            line: #"{"kind":"measure","agent":"planner","cli":"claude","invocation":"2","durationMs":3,"outcome":"failed","signal":9}"#,
            expected: .complete(.measure(planner, invocation: InvocationID(rawValue: 2), durationNs: 3_000_000, outcome: .failed,
                                         signal: 9, wallTimeNs: received, pid: 0))),
        ValidServiceLine(
            name: "an ending ended by a signal",
            line: #"{"kind":"measure","invocation":"BEEF","outcome":"failed","signal":15}"#,
            expected: .ending(IncomingEvent.Ending(invocation: InvocationID(rawValue: 0xBEEF), stream: nil, outcome: .failed, exitCode: nil,
                                                   signal: 15, wallTimeNs: nil, pid: 0, meta: Metadata()))),
    ]

    @Test("a valid line gives its event, with the service's defaults", arguments: valid)
    func validLine(_ c: ValidServiceLine) throws {
        let got = ServiceLine.parse(c.line, number: 12)
        #expect(got == .success(c.expected), "\(c.line)")
    }

    static func measureLine(_ rest: String) -> String { #"{"kind":"measure","agent":"a","cli":"c","invocation":"1","# + rest + "}" }
    static func markLine(_ rest: String) -> String { #"{"kind":"mark","agent":"a","cli":"c","invocation":"1""# + (rest.isEmpty ? "" : "," + rest) + "}" }

    static let invalid: [InvalidServiceLine] = [
        // What a mark needs, and what it must not have.
        InvalidServiceLine(name: "mark without invocation", line: #"{"kind":"mark","agent":"a","cli":"c"}"#, field: "invocation"),
        InvalidServiceLine(name: "mark without agent and cli", line: #"{"kind":"mark","invocation":"1"}"#, field: "agent"),
        InvalidServiceLine(name: "mark with durationMs", line: markLine(#""durationMs":1"#), field: "durationMs"),
        InvalidServiceLine(name: "mark with outcome", line: markLine(#""outcome":"ok""#), field: "outcome"),
        InvalidServiceLine(name: "kind missing", line: #"{"agent":"a","cli":"c","invocation":"1"}"#, field: "kind"),
        InvalidServiceLine(name: "kind unknown", line: #"{"kind":"start","agent":"a","cli":"c","invocation":"1"}"#, field: "kind"),
        // What a measure needs.
        InvalidServiceLine(name: "measure without outcome", line: #"{"kind":"measure","agent":"a","cli":"c","durationMs":1}"#, field: "outcome"),
        InvalidServiceLine(name: "ending without outcome", line: #"{"kind":"measure","invocation":"1"}"#, field: "outcome"),
        InvalidServiceLine(name: "agent without cli", line: #"{"kind":"measure","agent":"a","durationMs":1,"outcome":"ok"}"#, field: "cli"),
        InvalidServiceLine(name: "cli without agent", line: #"{"kind":"measure","cli":"c","durationMs":1,"outcome":"ok"}"#, field: "agent"),
        InvalidServiceLine(name: "agent without cli on a mark", line: #"{"kind":"mark","agent":"a","invocation":"1"}"#, field: "cli"),
        InvalidServiceLine(name: "measure with durationMs but no agent",
                           line: #"{"kind":"measure","invocation":"1","durationMs":1,"outcome":"ok"}"#, field: "agent"),
        InvalidServiceLine(name: "measure with neither durationMs nor invocation",
                           line: #"{"kind":"measure","agent":"a","cli":"c","outcome":"ok"}"#, field: "durationMs"),
        // Durations.
        InvalidServiceLine(name: "negative duration", line: measureLine(#""durationMs":-1,"outcome":"ok""#), field: "durationMs"),
        InvalidServiceLine(name: "negative microsecond", line: measureLine(#""durationMs":-0.001,"outcome":"ok""#), field: "durationMs"),
        InvalidServiceLine(name: "negative exponent form", line: measureLine(#""durationMs":-1e2,"outcome":"ok""#), field: "durationMs"),
        InvalidServiceLine(name: "NaN", line: measureLine(#""durationMs":NaN,"outcome":"ok""#), field: "durationMs"),
        InvalidServiceLine(name: "Infinity", line: measureLine(#""durationMs":Infinity,"outcome":"ok""#), field: "durationMs"),
        InvalidServiceLine(name: "-Infinity", line: measureLine(#""durationMs":-Infinity,"outcome":"ok""#), field: "durationMs"),
        InvalidServiceLine(name: "\"NaN\" as a string", line: measureLine(#""durationMs":"NaN","outcome":"ok""#), field: "durationMs"),
        InvalidServiceLine(name: "null duration", line: measureLine(#""durationMs":null,"outcome":"ok""#), field: "durationMs"),
        InvalidServiceLine(name: "too large duration", line: measureLine(#""durationMs":1e400,"outcome":"ok""#), field: "durationMs"),
        InvalidServiceLine(name: "a leading plus", line: measureLine(#""durationMs":+1,"outcome":"ok""#), field: "durationMs"),
        InvalidServiceLine(name: "unknown outcome", line: measureLine(#""durationMs":1,"outcome":"OK""#), field: "outcome"),
        // Unknown and duplicate keys, and each field's own rule.
        InvalidServiceLine(name: "unknown key", line: markLine(#""colour":"red""#), field: "colour"),
        InvalidServiceLine(name: "a key in the wrong case", line: markLine(#""PID":1"#), field: "PID"),
        InvalidServiceLine(name: "duplicate kind", line: #"{"kind":"mark","kind":"mark","agent":"a","cli":"c","invocation":"1"}"#, field: "kind"),
        InvalidServiceLine(name: "duplicate invocation", line: markLine(#""invocation":"1""#), field: "invocation"),
        InvalidServiceLine(name: "duplicate seq", line: #"{"seq":1,"seq":1,"kind":"mark","agent":"a","cli":"c","invocation":"1"}"#, field: "seq"),
        InvalidServiceLine(name: "duplicate meta key", line: markLine(#""meta":{"k":"a","k":"b"}"#), field: "meta.k"),
        InvalidServiceLine(name: "seq not a number", line: markLine(#""seq":"1""#), field: "seq"),
        InvalidServiceLine(name: "time without a zone", line: markLine(#""time":"2026-01-19T21:50:24""#), field: "time"),
        InvalidServiceLine(name: "time without a zone", line: markLine(#""time":"2026-01-19T20:50:24""#), field: "time"),
        InvalidServiceLine(name: "time before what Int64 nanoseconds hold", line: markLine(#""time":"1677-09-21T00:12:43.145224Z""#), field: "time"),
        InvalidServiceLine(name: "time after what Int64 nanoseconds hold", line: markLine(#""time":"2262-04-11T23:47:16.854776Z""#), field: "time"),
        InvalidServiceLine(name: "empty agent", line: #"{"kind":"mark","agent":"","cli":"c","invocation":"1"}"#, field: "agent"),
        InvalidServiceLine(name: "control character in cli", line: #"{"kind":"mark","agent":"a","cli":"c\u0007","invocation":"1"}"#, field: "cli"),
        InvalidServiceLine(name: "empty invocation", line: #"{"kind":"mark","agent":"a","cli":"c","invocation":""}"#, field: "invocation"),
        InvalidServiceLine(name: "17 hex digits", line: #"{"kind":"mark","agent":"a","cli":"c","invocation":"00000000000000001"}"#, field: "invocation"),
        InvalidServiceLine(name: "0x prefix", line: #"{"kind":"measure","invocation":"0x1","outcome":"ok"}"#, field: "invocation"),
        InvalidServiceLine(name: "fractional pid", line: markLine(#""pid":1.5"#), field: "pid"),
        InvalidServiceLine(name: "exit code beyond 32 bits", line: markLine(#""exitCode":2147483648"#), field: "exitCode"),
        InvalidServiceLine(name: "signal 0", line: measureLine(#""durationMs":1,"outcome":"failed","signal":0"#), field: "signal"),
        InvalidServiceLine(name: "signal 65", line: measureLine(#""durationMs":1,"outcome":"failed","signal":65"#), field: "signal"),
        InvalidServiceLine(name: "signal by name", line: measureLine(#""durationMs":1,"outcome":"failed","signal":"KILL""#), field: "signal"),
        InvalidServiceLine(name: "signal with outcome ok", line: measureLine(#""durationMs":1,"outcome":"ok","signal":9"#), field: "signal"),
        InvalidServiceLine(name: "signal with an exit code",
                           line: measureLine(#""durationMs":1,"outcome":"failed","exitCode":137,"signal":9"#), field: "signal"),
        InvalidServiceLine(name: "signal on a mark", line: markLine(#""signal":9"#), field: "signal"),
        InvalidServiceLine(name: "signal on an ending with outcome ok", line: #"{"kind":"measure","invocation":"1","outcome":"ok","signal":9}"#,
                           field: "signal"),
        InvalidServiceLine(name: "meta value not a string", line: markLine(#""meta":{"k":1}"#), field: "meta.k"),
        InvalidServiceLine(name: "meta with an empty key", line: markLine(#""meta":{"":"v"}"#), field: "meta"),
        InvalidServiceLine(name: "truncated inside a value", line: #"{"kind":"mark","agent":"a"#, field: "agent"),
        // The line as a whole.
        InvalidServiceLine(name: "not JSON", line: "kind=mark agent=a", field: nil),
        InvalidServiceLine(name: "a broken object", line: "{oops", field: nil),
        InvalidServiceLine(name: "an array", line: #"[{"kind":"mark","agent":"a","cli":"c","invocation":"1"}]"#, field: nil),
        InvalidServiceLine(name: "a string", line: #""mark""#, field: nil),
        InvalidServiceLine(name: "a number", line: "42", field: nil),
        InvalidServiceLine(name: "null", line: "null", field: nil),
        InvalidServiceLine(name: "an empty object's missing kind is a field", line: "{}", field: "kind"),
        InvalidServiceLine(name: "something after the object", line: markLine("") + " {}", field: nil),
        InvalidServiceLine(name: "two objects", line: markLine("") + markLine(""), field: nil),
        InvalidServiceLine(name: "a trailing comma", line: markLine("") + ",", field: nil),
        InvalidServiceLine(name: "a byte order mark", line: "\u{FEFF}" + markLine(""), field: nil),
    ]

    @Test("an invalid line fails naming its number and the field at fault", arguments: invalid)
    func invalidLine(_ c: InvalidServiceLine) throws {
        let got = ServiceLine.parse(c.line, number: 7)
        guard case .failure(.invalidLine(let line, let field, let rule)) = got else {
            Issue.record("\(c.line) gave \(got)")
            return
        }
        #expect(line == 7)
        #expect(field == c.field, "rule: \(rule)")
        #expect(!rule.isEmpty)
    }

    /// `Timestamp` writes every one of these for an event at that time (jsonLine), so a
    /// line carrying it must read back; only times outside Int64 nanoseconds are refused.
    @Test("times from the earliest to the latest whole microsecond Int64 nanoseconds hold are accepted", arguments: [
        ("1677-09-21T00:12:43.145225Z", Int64.min + 808),
        ("1677-09-21T00:12:43.5Z", -9_223_372_036_500_000_000),
        ("1677-09-21T00:12:43.999999999Z", -9_223_372_036_000_000_001),
        ("1677-09-21T00:12:44Z", -9_223_372_036_000_000_000),
        ("2262-04-11T23:47:16.854775Z", Int64.max - 807),
        ("2262-04-11T23:47:16.854775807Z", Int64.max),
    ])
    func extremeTimes(time: String, ns: Int64) throws {
        let line = #"{"time":""# + time + #"","kind":"mark","agent":"planner","cli":"claude","invocation":"1"}"#
        #expect(ServiceLine.parse(line) == .success(.complete(.mark(Self.planner, invocation: InvocationID(rawValue: 1),
                                                                    wallTimeNs: ns, pid: 0))))
    }

    @Test("a blank line gives nothing", arguments: ["", " ", "\t", "\r", "  \r", " \t \t\r"])
    func blankLine(_ line: String) throws {
        var asked = 0
        #expect(ServiceLine.parse(line, newInvocation: { asked += 1; return ServiceLine.fresh }) == .success(nil))
        #expect(asked == 0)
    }

    @Test("a line longer than the limit fails as a whole")
    func longLine() throws {
        let line = String(repeating: " ", count: ImportedEvents.maxLineBytes) + "{}"
        #expect(ServiceLine.parse(line, number: 3) == .failure(.invalidLine(
            line: 3, field: nil, rule: "is longer than \(ImportedEvents.maxLineBytes) bytes")))
    }

    @Test("each measure without an invocation asks for a new one; no other line does")
    func newInvocations() throws {
        var next: UInt64 = 100
        let gen = { () -> InvocationID in next += 1; return InvocationID(rawValue: next) }
        let timed = #"{"kind":"measure","agent":"a","cli":"c","durationMs":1,"outcome":"ok"}"#
        let a = ServiceLine.parse(timed, newInvocation: gen)
        let b = ServiceLine.parse(timed, newInvocation: gen)
        guard case .success(.complete(let ea)?) = a, case .success(.complete(let eb)?) = b else {
            Issue.record("\(a) \(b)")
            return
        }
        #expect(ea.invocation == InvocationID(rawValue: 101) && eb.invocation == InvocationID(rawValue: 102))
        _ = ServiceLine.parse(#"{"kind":"measure","agent":"a","cli":"c","invocation":"5","durationMs":1,"outcome":"ok"}"#, newInvocation: gen)
        _ = ServiceLine.parse(#"{"kind":"mark","agent":"a","cli":"c","invocation":"5"}"#, newInvocation: gen)
        _ = ServiceLine.parse(#"{"kind":"measure","invocation":"5","outcome":"ok"}"#, newInvocation: gen)
        #expect(next == 102)
    }

    @Test("the line number in errors is the one given", arguments: [1, 2, 99, 1_000_000])
    func lineNumbers(_ n: Int) throws {
        #expect(ServiceLine.parse("nope", number: n) == .failure(.invalidLine(
            line: n, field: nil, rule: "invalid JSON at column 1: unexpected 'n'")))
        guard case .failure(.invalidLine(let line, let field, _)) = ServiceLine.parse(#"{"kind":"mark"}"#, number: n) else {
            Issue.record("a mark without a stream was accepted")
            return
        }
        #expect(line == n && field == "agent")
    }

    @Test("every line Event.jsonLine writes parses back to the same event, but for seq", arguments: 0..<3)
    func jsonLinesParseBack(seed: Int) throws {
        var rng = SplitMix64(seed: UInt64(seed) &+ 0x5EED)
        var checked = 0
        for _ in 0..<2_000 {
            var e = try ServiceFuzzing.randomEvent(&rng)
            if e.kind == .mark { e.exitCode = rng.next() % 2 == 0 ? nil : Int32(truncatingIfNeeded: rng.next()) }
            let got = ServiceLine.parse(e.jsonLine, newInvocation: { Issue.record("asked for an invocation"); return ServiceLine.fresh })
            #expect(got == .success(.complete(ServiceFuzzing.normalized(e))), "\(e.jsonLine)")
            checked += 1
        }
        // Hand-picked: names and metadata that need escaping, extreme values.
        let odd = ServiceLine.stream("coder, \"senior\" \\ ünï", "co😀dex")
        var mark = Event.mark(odd, invocation: InvocationID(rawValue: .max), wallTimeNs: Self.t, pid: .min,
                              meta: ["model": "opus", "quote": "\"a\",\\b", "ü": String(repeating: "é", count: 128)])
        mark.exitCode = .max
        mark.seq = .max
        let measures: [Event] = [
            .measure(odd, invocation: InvocationID(rawValue: 0), durationNs: .max, outcome: .failed, exitCode: .min,
                     wallTimeNs: -9_223_372_036_000_000_000, pid: .max, meta: ["k": ""]),
            .measure(Self.planner, invocation: InvocationID(rawValue: 1), durationNs: 499, outcome: .ok, exitCode: 0,
                     wallTimeNs: -1, pid: 0),
            .measure(Self.planner, invocation: InvocationID(rawValue: 2), durationNs: 812_413_500, outcome: .ok,
                     wallTimeNs: .max, pid: 1, meta: ["a": "1", "b": "2"]),
        ]
        for e in [mark] + measures {
            #expect(ServiceLine.parse(e.jsonLine) == .success(.complete(ServiceFuzzing.normalized(e))), "\(e.jsonLine)")
        }
        #expect(checked == 2_000)
    }
}

// MARK: - Ending a mark

@Suite("Ending a mark")
struct EndingTests {
    static let planner = ServiceLine.stream("planner", "claude")
    static let t = ServiceLine.t
    static let id = InvocationID(rawValue: 0x6F1C)
    static let mark = Event.mark(planner, invocation: id, wallTimeNs: t, pid: 4242, meta: ["model": "opus"])

    static func ending(
        stream: StreamName? = nil, outcome: Outcome = .ok, exitCode: Int32? = nil, signal: Int32? = nil, wallTimeNs: Int64? = nil,
        pid: Int32 = 0, meta: Metadata = Metadata()
    ) -> IncomingEvent.Ending {
        IncomingEvent.Ending(invocation: id, stream: stream, outcome: outcome, exitCode: exitCode, signal: signal,
                             wallTimeNs: wallTimeNs, pid: pid, meta: meta)
    }

    @Test("the measure that ends a mark keeps the ending's signal")
    func signalCarriesOver() throws {
        let got = try measure(Self.ending(outcome: .failed, signal: 9, wallTimeNs: Self.t + 5), markReceivedNs: nil,
                              receivedNs: 0, receivedWallNs: Self.t + 10).get()
        #expect(got.signal == 9 && got.exitCode == nil && got.outcome == .failed && got.durationNs == 5)
    }

    func measure(
        _ ending: IncomingEvent.Ending, markReceivedNs: UInt64?, receivedNs: UInt64, receivedWallNs: Int64, mark: Event = EndingTests.mark
    ) -> Result<Event, PerfLogError> {
        do {
            return .success(try ending.measure(ending: mark, markReceivedNs: markReceivedNs, receivedNs: receivedNs,
                                               receivedWallNs: receivedWallNs, line: 4))
        } catch {
            return .failure(error)
        }
    }

    @Test("a mark the service received, ended by a line without time, is timed on the monotonic clock")
    func monotonic() throws {
        let got = measure(Self.ending(outcome: .failed, exitCode: 3, pid: 7), markReceivedNs: 5_000_000_000,
                          receivedNs: 5_002_500_123, receivedWallNs: Self.t + 90_000_000_000)
        #expect(got == .success(.measure(Self.planner, invocation: Self.id, durationNs: 2_500_123, outcome: .failed, exitCode: 3,
                                         wallTimeNs: Self.t + 90_000_000_000, pid: 7, meta: ["model": "opus"])))
        // The wall clock stepped back meanwhile: the monotonic clock still times it.
        let stepped = measure(Self.ending(), markReceivedNs: 10, receivedNs: 1_010, receivedWallNs: Self.t - 1_000_000)
        #expect(stepped == .success(.measure(Self.planner, invocation: Self.id, durationNs: 1_000, outcome: .ok,
                                             wallTimeNs: Self.t - 1_000_000, pid: 0, meta: ["model": "opus"])))
    }

    @Test("with times given, the duration is the difference of the wall clocks")
    func wallClock() throws {
        // The measure line gives its time: the wall clock, even though the mark was received here.
        let timed = measure(Self.ending(wallTimeNs: Self.t + 1_500_000), markReceivedNs: 5_000, receivedNs: 999_999_999,
                            receivedWallNs: Self.t + 80_000_000_000)
        #expect(timed == .success(.measure(Self.planner, invocation: Self.id, durationNs: 1_500_000, outcome: .ok,
                                           wallTimeNs: Self.t + 1_500_000, pid: 0, meta: ["model": "opus"])))
        // The mark was not received here (it came from the log): it ends when the line arrives.
        let arrived = measure(Self.ending(), markReceivedNs: nil, receivedNs: 123, receivedWallNs: Self.t + 2_000_000_000)
        #expect(arrived == .success(.measure(Self.planner, invocation: Self.id, durationNs: 2_000_000_000, outcome: .ok,
                                             wallTimeNs: Self.t + 2_000_000_000, pid: 0, meta: ["model": "opus"])))
        // Ending at the very instant it started takes no time.
        let instant = measure(Self.ending(wallTimeNs: Self.t), markReceivedNs: nil, receivedNs: 0, receivedWallNs: Self.t + 1)
        #expect((try? instant.get())?.durationNs == 0)
    }

    @Test("a line naming another stream than the mark's is refused; naming the same one is fine")
    func otherStream() throws {
        let other = measure(Self.ending(stream: ServiceLine.stream("coder", "claude")), markReceivedNs: nil, receivedNs: 0,
                            receivedWallNs: Self.t + 1)
        guard case .failure(.invalidLine(let line, let field, let rule)) = other else { Issue.record("\(other)"); return }
        #expect(line == 4 && field == "agent")
        #expect(rule.contains("coder/claude") && rule.contains("planner/claude"), "\(rule)")
        // Only the CLI differs: refused too, naming the line.
        let cli = measure(Self.ending(stream: ServiceLine.stream("planner", "codex")), markReceivedNs: nil, receivedNs: 0,
                          receivedWallNs: Self.t + 1)
        guard case .failure(.invalidLine(let cliLine, let cliField, _)) = cli else { Issue.record("\(cli)"); return }
        #expect(cliLine == 4 && cliField != nil)
        let same = measure(Self.ending(stream: Self.planner), markReceivedNs: nil, receivedNs: 0, receivedWallNs: Self.t + 1)
        #expect((try? same.get())?.stream == Self.planner)
    }

    @Test("a measure that ends before its mark started is refused")
    func beforeMark() throws {
        for got in [
            measure(Self.ending(wallTimeNs: Self.t - 1), markReceivedNs: nil, receivedNs: 0, receivedWallNs: Self.t + 5),
            measure(Self.ending(wallTimeNs: Self.t - 1), markReceivedNs: 1, receivedNs: 2, receivedWallNs: Self.t + 5),
            measure(Self.ending(), markReceivedNs: nil, receivedNs: 0, receivedWallNs: Self.t - 1_000),
        ] {
            guard case .failure(.invalidLine(let line, let field, let rule)) = got else { Issue.record("\(got)"); continue }
            #expect(line == 4 && field == "time")
            #expect(rule.contains("2026-01-19T20:50:24.123456Z"), "\(rule)")
        }
    }

    @Test("the mark's metadata is used when the measure has none, and the measure's otherwise")
    func metadata() throws {
        let inherited = measure(Self.ending(), markReceivedNs: nil, receivedNs: 0, receivedWallNs: Self.t + 1)
        #expect((try? inherited.get())?.meta == ["model": "opus"])
        let own = measure(Self.ending(meta: ["suite": "unit"]), markReceivedNs: nil, receivedNs: 0, receivedWallNs: Self.t + 1)
        #expect((try? own.get())?.meta == ["suite": "unit"])
        var bare = Self.mark
        bare.meta = Metadata()
        let none = measure(Self.ending(), markReceivedNs: nil, receivedNs: 0, receivedWallNs: Self.t + 1, mark: bare)
        #expect((try? none.get())?.meta.isEmpty == true)
    }

    @Test("openMark finds an open mark in a real log, and not once its measure is appended")
    func openMarkInLog() throws {
        let dir = try TemporaryDirectory()
        let log = try EventLog(path: dir.path + "/log")
        let coder = ServiceLine.stream("coder", "codex")
        var first = Self.mark
        first.exitCode = 5
        let second = Event.mark(coder, invocation: InvocationID(rawValue: 0xC0DE), wallTimeNs: Self.t + 10, pid: 1)
        let unrelated = Event.measure(Self.planner, invocation: InvocationID(rawValue: 0xFFFF), durationNs: 9, outcome: .ok,
                                      wallTimeNs: Self.t + 20, pid: 2)
        let seq = try log.append([first, second, unrelated])
        var stored = first
        stored.seq = seq
        #expect(try log.read { try $0.openMark(Self.id) } == stored)
        #expect(try log.read { try $0.openMark(InvocationID(rawValue: 0xC0DE)) }?.stream == coder)
        #expect(try log.read { try $0.openMark(InvocationID(rawValue: 0xFFFF)) } == nil)
        #expect(try log.read { try $0.openMark(InvocationID(rawValue: 0x1234)) } == nil)

        // A service ends it as Intake does: parse the line, find the mark, append the measure.
        let line = #"{"kind":"measure","invocation":"0000000000006f1c","outcome":"failed","exitCode":2}"#
        guard case .success(.ending(let ending)?) = ServiceLine.parse(line, number: 1) else { Issue.record("not an ending"); return }
        let mark = try #require(try log.read { try $0.openMark(ending.invocation) })
        let end = try ending.measure(ending: mark, markReceivedNs: nil, receivedNs: 0, receivedWallNs: Self.t + 3_000, line: 1)
        #expect(end == .measure(Self.planner, invocation: Self.id, durationNs: 3_000, outcome: .failed, exitCode: 2,
                                wallTimeNs: Self.t + 3_000, pid: 0, meta: ["model": "opus"]))
        try log.append([end])
        #expect(try log.read { try $0.openMark(Self.id) } == nil)
        #expect(try log.read { try $0.openMark(InvocationID(rawValue: 0xC0DE)) }?.invocation == InvocationID(rawValue: 0xC0DE))
        #expect(try log.read { try $0.summary(Self.planner)?.inFlight } == 0)
        #expect(try log.read { try $0.verify() } == [])
    }
}

// MARK: - Fuzzing

@Suite("Fuzzing service lines")
struct IncomingEventFuzzTests {
    static func isBlank(_ bytes: [UInt8]) -> Bool { bytes.allSatisfy { $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D } }

    /// What an accepted line must satisfy, whatever the bytes were.
    static func checkRules(_ incoming: IncomingEvent, line: [UInt8]) {
        func validStream(_ stream: StreamName) -> Bool {
            (try? StreamName.validate(stream.agent, field: "agent")) != nil && (try? StreamName.validate(stream.cli, field: "cli")) != nil
        }
        func validMeta(_ meta: Metadata) -> Bool { (try? Metadata.validated(meta.map { ($0.key, $0.value) })) == meta }
        switch incoming {
        case .complete(let e):
            #expect(validStream(e.stream) && validMeta(e.meta), "\(String(decoding: line, as: UTF8.self))")
            #expect(e.seq == 0)
            if e.kind == .mark { #expect(e.durationNs == 0 && e.outcome == .ok) }
            // What was accepted renders to perflog's own NDJSON, which reads back the same.
            #expect((try? Event(jsonLine: e.jsonLine)) == ServiceFuzzing.normalized(e), "\(String(decoding: line, as: UTF8.self))")
        case .ending(let x):
            #expect(x.stream.map(validStream) ?? true)
            #expect(validMeta(x.meta))
        }
    }

    @Test("random and mutated lines never crash: nothing for a blank line, an event that keeps the rules, or an error naming the line")
    func mutatedLines() throws {
        var seeds = (IncomingEventTests.valid.map(\.line) + IncomingEventTests.invalid.map(\.line)).map { Array($0.utf8) }
        seeds += try ServiceFuzzing.seedEvents().map { Array($0.jsonLine.utf8) }
        seeds.append(Array(#"{"kind":"measure","invocation":"6f1c2a9e0b3d4471","outcome":"ok","meta":{"model":"opus"}}"#.utf8))
        seeds.append(Array(" \t \r".utf8))
        var m = Mutator(rng: SplitMix64(seed: UInt64.random(in: 1...UInt64.max)))
        var blank = 0, accepted = 0, refused = 0
        for i in 0..<ServiceFuzzing.iterations {
            let bytes = m.mutate(seeds)
            let number = m.int(1_000_000) + 1
            let got = ServiceLine.parse(bytes, number: number)
            switch got {
            case .success(nil):
                blank += 1
                #expect(Self.isBlank(bytes), "\(bytes)")
            case .success(let incoming?):
                accepted += 1
                #expect(!Self.isBlank(bytes))
                Self.checkRules(incoming, line: bytes)
            case .failure(let error):
                refused += 1
                guard case .invalidLine(let line, let field, let rule) = error else { Issue.record("\(error)"); continue }
                #expect(line == number, "\(String(describing: field))")
                #expect(!rule.isEmpty)
            }
            // The parser reads only the line it is given, not the bytes after it.
            if i % 8 == 0 {
                let padded = bytes + Array(#"","outcome":"ok"}"#.utf8) + [0xFF, 0x00]
                let inside = padded.withUnsafeBytes { raw in
                    ServiceLine.parse(UnsafeRawBufferPointer(rebasing: raw[..<bytes.count]), number: number)
                }
                #expect(inside == got)
            }
        }
        #expect(blank > 0 && accepted > 0 && refused > 0, "blank \(blank), accepted \(accepted), refused \(refused)")
    }
}
