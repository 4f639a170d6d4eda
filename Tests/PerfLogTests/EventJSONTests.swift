import PerfLog
import Testing

@Suite("Durations in JSON: milliseconds rounded to the microsecond, minimal digits")
struct DurationJSONTests {
    @Test(arguments: [
        (UInt64(812_413_000), "812.413"),
        (812_412_500, "812.413"),  // halves round up
        (812_412_499, "812.412"),
        (1_000_000_000, "1000"),
        (1_000, "0.001"),
        (500, "0.001"),
        (499, "0"),
        (0, "0"),
        (1_500_000, "1.5"),
        (10_000_000, "10"),
        (123_000, "0.123"),
        (UInt64.max, "18446744073709.552"),
    ] as [(UInt64, String)])
    func milliseconds(ns: UInt64, expected: String) {
        #expect(JSONBuffer.text { $0.milliseconds(nanoseconds: ns) } == expected)
    }
}

@Suite("ISO 8601 timestamps in UTC")
struct TimestampTests {
    @Test(arguments: [
        (Int64(0), "1970-01-01T00:00:00.000000Z", "1970-01-01T00:00:00.000Z"),
        (1_768_855_824_123_456_789, "2026-01-19T20:50:24.123456Z", "2026-01-19T20:50:24.123Z"),
        (-1, "1969-12-31T23:59:59.999999Z", "1969-12-31T23:59:59.999Z"),
        (1_709_164_800_000_000_000, "2024-02-29T00:00:00.000000Z", "2024-02-29T00:00:00.000Z"),
        (951_868_799_999_999_999, "2000-02-29T23:59:59.999999Z", "2000-02-29T23:59:59.999Z"),
        (4_107_542_400_000_000_000, "2100-03-01T00:00:00.000000Z", "2100-03-01T00:00:00.000Z"),  // 2100 is not a leap year
        (-2_208_988_800_000_000_000 + 1_500, "1900-01-01T00:00:00.000001Z", "1900-01-01T00:00:00.000Z"),
    ] as [(Int64, String, String)])
    func formats(ns: Int64, micro: String, milli: String) {
        #expect(Timestamp.iso8601(unixNanoseconds: ns, precision: .microseconds) == micro)
        #expect(Timestamp.iso8601(unixNanoseconds: ns, precision: .milliseconds) == milli)
    }
}

@Suite("JSON string escaping")
struct EscapingTests {
    @Test(arguments: [
        ("plain", #""plain""#),
        ("say \"hi\"", #""say \"hi\"""#),
        (#"back\slash"#, #""back\\slash""#),
        ("line\nbreak\ttab\u{1}", #""line\u000abreak\u0009tab\u0001""#),
        ("\u{1f}", #""\u001f""#),
        ("é ✓ 🚀", "\"é ✓ 🚀\""),
        ("", #""""#),
    ] as [(String, String)])
    func quoted(input: String, expected: String) {
        #expect(JSONBuffer.quoted(input) == expected)
    }
}

@Suite("Events as NDJSON lines")
struct EventLineTests {
    let stream: StreamName

    init() throws { stream = try StreamName(agent: "planner", cli: "claude") }

    @Test func measureWithEveryKey() {
        var event = Event.measure(
            stream, invocation: InvocationID(rawValue: 0x6f1c_2a9e_0b3d_4471), durationNs: 812_413_000,
            outcome: .failed, exitCode: 1, wallTimeNs: 1_768_855_824_123_456_789, pid: 4242,
            meta: ["model": "opus", "effort": "high"])
        event.seq = 1042
        #expect(event.jsonLine == #"{"seq":1042,"time":"2026-01-19T20:50:24.123456Z","kind":"measure","agent":"planner","cli":"claude","invocation":"6f1c2a9e0b3d4471","durationMs":812.413,"outcome":"failed","exitCode":1,"pid":4242,"meta":{"effort":"high","model":"opus"}}"#)
    }

    @Test func signalComesAfterWhereExitCodeWouldBe() throws {
        var event = Event.measure(
            stream, invocation: InvocationID(rawValue: 1), durationNs: 2_000_000, outcome: .failed, signal: 9,
            wallTimeNs: 0, pid: 7, meta: ["k": "v"])
        event.seq = 4
        #expect(event.jsonLine == #"{"seq":4,"time":"1970-01-01T00:00:00.000000Z","kind":"measure","agent":"planner","cli":"claude","invocation":"0000000000000001","durationMs":2,"outcome":"failed","signal":9,"pid":7,"meta":{"k":"v"}}"#)
        #expect(try Event(jsonLine: event.jsonLine) == { var e = event; e.seq = 0; return e }())
    }

    @Test func measureOmitsAbsentKeys() {
        var event = Event.measure(
            stream, invocation: InvocationID(rawValue: 1), durationNs: 1_000_000_000, outcome: .ok,
            wallTimeNs: 0, pid: 7)
        event.seq = 3
        #expect(event.jsonLine == #"{"seq":3,"time":"1970-01-01T00:00:00.000000Z","kind":"measure","agent":"planner","cli":"claude","invocation":"0000000000000001","durationMs":1000,"outcome":"ok","pid":7}"#)
    }

    @Test func markHasNoDurationOrOutcome() {
        var event = Event.mark(stream, invocation: InvocationID(rawValue: 0xabc), wallTimeNs: 1_000, pid: 9, meta: ["k": "v"])
        event.seq = 5
        #expect(event.jsonLine == #"{"seq":5,"time":"1970-01-01T00:00:00.000001Z","kind":"mark","agent":"planner","cli":"claude","invocation":"0000000000000abc","pid":9,"meta":{"k":"v"}}"#)
    }

    @Test func namesAreEscaped() throws {
        let odd = try StreamName(agent: "a\"b", cli: #"c\d"#)
        let event = Event.measure(odd, invocation: InvocationID(rawValue: 2), durationNs: 1, outcome: .ok, wallTimeNs: 0, pid: 1)
        #expect(event.jsonLine.contains(#""agent":"a\"b","cli":"c\\d""#))
    }
}
