import Foundation
import InMemoryLogging
import Logging
@testable import PerfLog
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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
        InvalidServiceLine(name: "time with an offset", line: markLine(#""time":"2026-01-19T21:50:24+01:00""#), field: "time"),
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
        guard case .failure(.invalidInput(let field, let rule)) = got else {
            Issue.record("\(c.line) gave \(got)")
            return
        }
        #expect(field == (c.field.map { "line 7: \($0)" } ?? "line 7"), "rule: \(rule)")
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
        #expect(ServiceLine.parse(line, number: 3) == .failure(.invalidInput(
            field: "line 3", rule: "is longer than \(ImportedEvents.maxLineBytes) bytes")))
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
        #expect(ServiceLine.parse("nope", number: n) == .failure(.invalidInput(
            field: "line \(n)", rule: "invalid JSON at column 1: unexpected 'n'")))
        guard case .failure(.invalidInput(let field, _)) = ServiceLine.parse(#"{"kind":"mark"}"#, number: n) else {
            Issue.record("a mark without a stream was accepted")
            return
        }
        #expect(field == "line \(n): agent")
    }

    @Test("every line Event.jsonLine writes parses back to the same event, but for seq", arguments: 0..<3)
    func jsonLinesParseBack(seed: Int) throws {
        var rng = SplitMix64(seed: UInt64(seed) &+ 0x5EED)
        var checked = 0
        for _ in 0..<2_000 {
            var e = try EncodingTests.randomEvent(&rng)
            if e.kind == .mark { e.exitCode = rng.next() % 2 == 0 ? nil : Int32(truncatingIfNeeded: rng.next()) }
            let got = ServiceLine.parse(e.jsonLine, newInvocation: { Issue.record("asked for an invocation"); return ServiceLine.fresh })
            #expect(got == .success(.complete(IOFixture.normalized(e))), "\(e.jsonLine)")
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
            #expect(ServiceLine.parse(e.jsonLine) == .success(.complete(IOFixture.normalized(e))), "\(e.jsonLine)")
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
        stream: StreamName? = nil, outcome: Outcome = .ok, exitCode: Int32? = nil, wallTimeNs: Int64? = nil, pid: Int32 = 0,
        meta: Metadata = Metadata()
    ) -> IncomingEvent.Ending {
        IncomingEvent.Ending(invocation: id, stream: stream, outcome: outcome, exitCode: exitCode, wallTimeNs: wallTimeNs,
                             pid: pid, meta: meta)
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
        guard case .failure(.invalidInput(let field, let rule)) = other else { Issue.record("\(other)"); return }
        #expect(field == "line 4: agent")
        #expect(rule.contains("coder/claude") && rule.contains("planner/claude"), "\(rule)")
        // Only the CLI differs: refused too, naming the line.
        let cli = measure(Self.ending(stream: ServiceLine.stream("planner", "codex")), markReceivedNs: nil, receivedNs: 0,
                          receivedWallNs: Self.t + 1)
        guard case .failure(.invalidInput(let cliField, _)) = cli else { Issue.record("\(cli)"); return }
        #expect(cliField.hasPrefix("line 4: "))
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
            guard case .failure(.invalidInput(let field, let rule)) = got else { Issue.record("\(got)"); continue }
            #expect(field == "line 4: time")
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

// MARK: - Settling recorded batches

/// The callbacks of settled batches, in the order they ran, with what the log held then.
final class Settlements: @unchecked Sendable {
    // Why @unchecked Sendable is safe: `entries` is guarded by `condition`.
    private let condition = NSCondition()
    private var entries: [Entry] = []

    enum Probe { case none, lastSeq, timeline }

    struct Entry {
        var name: String
        var result: Result<Void, PerfLogError>
        var thread: pthread_t
        /// The log's last seq when the callback ran.
        var lastSeq: UInt64?
        /// The invocations on the log's timeline when the callback ran.
        var invocations: Set<InvocationID>?
    }

    func callback(_ name: String, probe: Probe = .none, log: EventLog? = nil) -> @Sendable (Result<Void, PerfLogError>) -> Void {
        { [self] result in
            var entry = Entry(name: name, result: result, thread: pthread_self())
            if let log {
                switch probe {
                case .none: break
                case .lastSeq: entry.lastSeq = try? log.read { try $0.lastSeq() }
                case .timeline: entry.invocations = try? log.read { Set(try $0.timeline().map(\.invocation)) }
                }
            }
            condition.lock()
            entries.append(entry)
            condition.broadcast()
            condition.unlock()
        }
    }

    var count: Int {
        condition.lock()
        defer { condition.unlock() }
        return entries.count
    }

    /// Waits until `n` callbacks have run; records an issue after a generous bound
    /// rather than hanging.
    @discardableResult
    func wait(for n: Int, within seconds: Double = 60) -> [Entry] {
        let deadline = Date().addingTimeInterval(seconds)
        condition.lock()
        defer { condition.unlock() }
        while entries.count < n {
            if !condition.wait(until: deadline) && entries.count < n {
                Issue.record("timed out waiting for \(n) settlements (\(entries.count) so far)")
                break
            }
        }
        return entries
    }
}

extension Result where Success == Void, Failure == PerfLogError {
    var succeeded: Bool { if case .success = self { true } else { false } }
    var failure: PerfLogError? { if case .failure(let e) = self { e } else { nil } }
}

/// A semaphore wait that fails the test instead of hanging.
func waitOrFail(_ s: DispatchSemaphore, _ what: String, seconds: Double = 60) -> Bool {
    if s.wait(timeout: .now() + seconds) == .timedOut {
        Issue.record("timed out waiting until \(what)")
        return false
    }
    return true
}

@Suite("Settling recorded batches")
struct SettlementTests {
    static func events(_ n: Int, _ stream: StreamName, key: UInt64, payload: Int = 0) -> [Event] {
        (0..<n).map { i in
            .measure(stream, invocation: InvocationID(rawValue: key << 16 | UInt64(i)), durationNs: UInt64(i + 1), outcome: .ok,
                     wallTimeNs: ServiceLine.t + Int64(i), pid: 1,
                     meta: payload > 0 ? ["payload": String(repeating: "x", count: payload)] : Metadata())
        }
    }

    static func quietOptions() -> (Recorder.Options, InMemoryLogHandler) {
        let handler = InMemoryLogHandler()
        var options = Recorder.Options()
        options.logger = Logger(label: "test", factory: { _ in handler })
        return (options, handler)
    }

    func makeLog(_ dir: TemporaryDirectory) throws -> EventLog {
        var options = EventLog.Options()
        options.retain = 100_000
        return try EventLog(path: dir.path + "/log", options: options)
    }

    @Test("the callback runs on the writer thread once the batch is readable in the log, not before")
    func readableWhenSettled() throws {
        let dir = try TemporaryDirectory()
        let log = try makeLog(dir)
        let recorder = Recorder(log: log)
        let settled = Settlements()
        let batch = Self.events(25, ServiceLine.stream("planner", "claude"), key: 1)
        let holder = WriteLockHolder(log)
        recorder.record(contentsOf: batch, whenSettled: settled.callback("batch", probe: .timeline, log: log))
        // No commit can finish while the write lock is held, so nothing can have settled.
        #expect(settled.count == 0)
        holder.release()
        let entries = settled.wait(for: 1)
        guard let entry = entries.first else { return }
        #expect(entry.result.succeeded)
        #expect(entry.invocations?.isSuperset(of: batch.map(\.invocation)) == true)
        #expect(pthread_equal(entry.thread, pthread_self()) == 0)
        #expect(recorder.counters.committed == 25)
        try recorder.close()
    }

    @Test("callbacks run in recording order across batches from many threads, each after its events are committed together")
    func orderAcrossThreads() throws {
        let dir = try TemporaryDirectory()
        let log = try makeLog(dir)
        var options = Recorder.Options()
        options.maxBatch = 37  // batches often span two commits
        let recorder = Recorder(log: log, options: options)
        let settled = Settlements()
        let threads = 6, perThread = 40
        @Sendable func size(_ rng: inout SplitMix64) -> Int { Int(rng.next() % 20) + 1 }
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            var rng = SplitMix64(seed: UInt64(t) + 1)
            let stream = ServiceLine.stream("agent-\(t)", "cli")
            for b in 0..<perThread {
                let key = UInt64(t) << 16 | UInt64(b)
                recorder.record(contentsOf: Self.events(size(&rng), stream, key: key),
                                whenSettled: settled.callback("\(key)", probe: .lastSeq, log: log))
            }
        }
        let entries = settled.wait(for: threads * perThread)
        try recorder.flush()
        #expect(entries.allSatisfy { $0.result.succeeded })

        var expectedSize: [UInt64: Int] = [:]
        for t in 0..<threads {
            var rng = SplitMix64(seed: UInt64(t) + 1)
            for b in 0..<perThread { expectedSize[UInt64(t) << 16 | UInt64(b)] = size(&rng) }
        }
        var seqs: [UInt64: [UInt64]] = [:]
        for e in try log.read({ try $0.timeline() }) { seqs[e.invocation.rawValue >> 16, default: []].append(e.seq) }
        #expect(seqs.count == threads * perThread)

        var previous: UInt64 = 0
        var perThreadOrder: [UInt64: UInt64] = [:]
        for entry in entries {
            guard let key = UInt64(entry.name), let s = seqs[key], let first = s.min(), let last = s.max() else {
                Issue.record("batch \(entry.name) is not in the log")
                continue
            }
            #expect(s.count == expectedSize[key], "batch \(key)")
            #expect(last - first + 1 == UInt64(s.count), "batch \(key) was not committed together: \(s)")
            #expect(first > previous, "batch \(key) settled out of recording order")
            #expect((entry.lastSeq ?? 0) >= last, "batch \(key) settled before its events were readable")
            previous = first
            // Each thread's own batches settle in the order it recorded them.
            let thread = key >> 16
            #expect((perThreadOrder[thread].map { $0 < key }) ?? true)
            perThreadOrder[thread] = key
        }
        try recorder.close()
    }

    @Test("an empty batch settles, after the batches recorded before it, without waiting for the batch delay")
    func emptyBatch() throws {
        let dir = try TemporaryDirectory()
        let log = try makeLog(dir)
        var options = Recorder.Options()
        options.maxDelay = .seconds(600)  // only a flush, a full batch or an empty batch commits
        let recorder = Recorder(log: log, options: options)
        let settled = Settlements()
        // Alone on an idle recorder.
        recorder.record(contentsOf: [], whenSettled: settled.callback("alone"))
        #expect(settled.wait(for: 1, within: 120).first?.result.succeeded == true)

        // After a pending batch: the empty one makes the writer commit it, and settles after it.
        let batch = Self.events(3, ServiceLine.stream("planner", "claude"), key: 2)
        recorder.record(contentsOf: batch, whenSettled: settled.callback("batch", probe: .lastSeq, log: log))
        recorder.record(contentsOf: [], whenSettled: settled.callback("empty", probe: .timeline, log: log))
        let entries = settled.wait(for: 3, within: 120)
        #expect(entries.map(\.name) == ["alone", "batch", "empty"])
        #expect(entries.allSatisfy { $0.result.succeeded })
        if entries.count == 3 {
            #expect(entries[2].invocations == Set(batch.map(\.invocation)))
            #expect(entries[1].lastSeq == 3)
        }
        #expect(recorder.counters.recorded == 3 && recorder.counters.committed == 3)
        try recorder.close()
    }

    @Test("after close the callback is called at once with busy, and nothing is recorded")
    func afterClose() throws {
        let dir = try TemporaryDirectory()
        let log = try makeLog(dir)
        let recorder = Recorder(log: log)
        let stream = ServiceLine.stream("planner", "claude")
        let settled = Settlements()
        recorder.record(contentsOf: Self.events(4, stream, key: 3), whenSettled: settled.callback("before"))
        try recorder.close()
        #expect(settled.count == 1)
        let seq = try log.read { try $0.lastSeq() }
        let before = recorder.counters

        recorder.record(contentsOf: Self.events(5, stream, key: 4), whenSettled: settled.callback("after"))
        recorder.record(contentsOf: [], whenSettled: settled.callback("after, empty"))
        // Called before record returned, on the calling thread.
        let entries = settled.wait(for: 0)
        #expect(entries.map(\.name) == ["before", "after", "after, empty"])
        for entry in entries.dropFirst() {
            #expect(pthread_equal(entry.thread, pthread_self()) != 0)
            guard case .failure(.busy(let path, let reason)) = entry.result else {
                Issue.record("\(entry.name): \(entry.result)")
                continue
            }
            #expect(path == log.path && !reason.isEmpty)
        }
        #expect(try log.read { try $0.lastSeq() } == seq)
        let after = recorder.counters
        #expect(after.recorded == before.recorded && after.committed == before.committed)
        #expect(after.dropped == before.dropped + 5)
    }

    /// Records an empty batch whose callback holds the writer until `body` has run, so
    /// that everything `body` records is taken by the writer's next commit together.
    func withWriterHeld(_ recorder: Recorder, _ settled: Settlements, _ body: () -> Void) {
        let reached = DispatchSemaphore(value: 0), go = DispatchSemaphore(value: 0)
        let gate = settled.callback("gate")
        recorder.record(contentsOf: []) { result in
            gate(result)
            reached.signal()
            _ = go.wait(timeout: .now() + 60)
        }
        guard waitOrFail(reached, "the writer reached the gate") else { return }
        body()
        go.signal()
    }

    @Test("a full disk fails exactly the batches of the failed commit; a batch after space is freed succeeds")
    func fullDisk() throws {
        let dir = try TemporaryDirectory()
        let disk = try SmallDisk(dir.path + "/disk", size: "2m")
        var logOptions = EventLog.Options()
        logOptions.retain = 1_000_000
        logOptions.mapSize = 8 << 20
        let log = try EventLog(path: disk.path + "/log", options: logOptions)
        let (quiet, handler) = Self.quietOptions()
        var options = quiet
        options.maxDelay = .seconds(600)
        let recorder = Recorder(log: log, options: options)
        let settled = Settlements()
        let stream = ServiceLine.stream("planner", "claude")

        let a = Self.events(20, stream, key: 10)
        recorder.record(contentsOf: a, whenSettled: settled.callback("a"))
        try recorder.flush()
        #expect(settled.wait(for: 1).last?.result.succeeded == true)

        // Fill every byte the file system has left.
        let filler = disk.path + "/filler"
        let fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        try #require(fd >= 0)
        let chunk = [UInt8](repeating: 0xA5, count: 1 << 16)
        var stop: Int32 = 0
        for size in [1 << 16, 4096, 1] {
            while true {
                let n = chunk.withUnsafeBytes { write(fd, $0.baseAddress, size) }
                if n < 0 { stop = errno; if stop == EINTR { continue }; break }
            }
        }
        close(fd)
        try #require(stop == ENOSPC)

        // b and c go into one commit, too big for the pages LMDB can reuse.
        let b = Self.events(300, stream, key: 11, payload: 200)
        let c = Self.events(300, stream, key: 12, payload: 200)
        withWriterHeld(recorder, settled) {
            recorder.record(contentsOf: b, whenSettled: settled.callback("b"))
            recorder.record(contentsOf: c, whenSettled: settled.callback("c"))
            recorder.record(contentsOf: [], whenSettled: settled.callback("trigger"))
        }
        let failed = settled.wait(for: 5)
        #expect(failed.map(\.name) == ["a", "gate", "b", "c", "trigger"])
        for entry in failed where entry.name == "b" || entry.name == "c" {
            guard case .storage? = entry.result.failure else { Issue.record("\(entry.name): \(entry.result)"); continue }
        }
        #expect(failed.first { $0.name == "gate" }?.result.succeeded == true)
        #expect(recorder.counters.lost == 600 && recorder.counters.failedCommits == 1)
        #expect(throws: PerfLogError.self) { try recorder.flush() }
        #expect(handler.entries.contains { $0.level == .error })

        // Space returns: the next batch is committed.
        try FileManager.default.removeItem(atPath: filler)
        let d = Self.events(20, stream, key: 13, payload: 200)
        recorder.record(contentsOf: d, whenSettled: settled.callback("d"))
        try recorder.flush()
        let all = settled.wait(for: 6)
        #expect(all.last?.name == "d" && all.last?.result.succeeded == true)
        let keys = Set(try log.read { try $0.timeline() }.map { $0.invocation.rawValue >> 16 })
        #expect(keys == [10, 13])
        #expect(try log.read { try $0.summary(stream)?.count } == 40)
        #expect(try log.read { try $0.verify() } == [])
        try recorder.close()
    }

    /// A callback gets a failure only when a commit lost one of its events; an empty
    /// batch has none, wherever it falls among the batches of the failed commit.
    @Test("an empty batch recorded among the batches of a failed commit lost nothing: it settles with success")
    func emptyBatchInFailedCommit() throws {
        let dir = try TemporaryDirectory()
        _ = try makeLog(dir)
        var logOptions = EventLog.Options()
        logOptions.readOnly = true
        let readOnly = try EventLog(path: dir.path + "/log", options: logOptions)
        var options = Self.quietOptions().0
        options.maxDelay = .seconds(600)
        let recorder = Recorder(log: readOnly, options: options)
        let settled = Settlements()
        let stream = ServiceLine.stream("planner", "claude")
        withWriterHeld(recorder, settled) {
            recorder.record(contentsOf: [], whenSettled: settled.callback("empty first"))
            recorder.record(contentsOf: Self.events(3, stream, key: 1), whenSettled: settled.callback("b"))
            recorder.record(contentsOf: [], whenSettled: settled.callback("empty between"))
            recorder.record(contentsOf: Self.events(3, stream, key: 2), whenSettled: settled.callback("c"))
            recorder.record(contentsOf: [], whenSettled: settled.callback("empty last"))
        }
        let entries = settled.wait(for: 6)
        #expect(entries.map(\.name) == ["gate", "empty first", "b", "empty between", "c", "empty last"])
        #expect(recorder.counters.failedCommits == 1 && recorder.counters.lost == 6)
        for entry in entries {
            switch entry.name {
            case "b", "c": #expect(entry.result.failure != nil, "\(entry.name)")
            default: #expect(entry.result.succeeded, "\(entry.name): \(entry.result)")
            }
        }
        #expect(throws: PerfLogError.self) { try recorder.close() }
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
            #expect((try? Event(jsonLine: e.jsonLine)) == IOFixture.normalized(e), "\(String(decoding: line, as: UTF8.self))")
        case .ending(let x):
            #expect(x.stream.map(validStream) ?? true)
            #expect(validMeta(x.meta))
        }
    }

    @Test("random and mutated lines never crash: nothing for a blank line, an event that keeps the rules, or an error naming the line")
    func mutatedLines() throws {
        var seeds = (IncomingEventTests.valid.map(\.line) + IncomingEventTests.invalid.map(\.line)).map { Array($0.utf8) }
        seeds += try FuzzTests.seedEvents().map { Array($0.jsonLine.utf8) }
        seeds.append(Array(#"{"kind":"measure","invocation":"6f1c2a9e0b3d4471","outcome":"ok","meta":{"model":"opus"}}"#.utf8))
        seeds.append(Array(" \t \r".utf8))
        var m = Mutator(rng: SplitMix64(seed: UInt64.random(in: 1...UInt64.max)))
        var blank = 0, accepted = 0, refused = 0
        for i in 0..<FuzzTests.iterations {
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
                guard case .invalidInput(let field, let rule) = error else { Issue.record("\(error)"); continue }
                #expect(field == "line \(number)" || field.hasPrefix("line \(number): "), "\(field)")
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
