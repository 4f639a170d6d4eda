import PerfLog
@testable import PerfLogService
import PerfLogTestSupport
import Testing

/// The service's fast path for the lines perflog's clients send must give, for every line
/// it takes, the event the general parser gives; and it must take the clients' lines.
@Suite("Client fast line")
struct ClientFastLineTests {
    static let names = ["planner", "claude", "a b", "x\u{e9}", "q\"uote", "", String(repeating: "n", count: 128),
                        String(repeating: "m", count: 129)]
    static let durations = ["0", "5", "0.43248000000000004", "812.4125", "1.0000005", "1.0000004999", "999999999999.999999",
                            "1000000000000", "5e-7", "1E3", "-1", "007", "0.1234565", "2.5000000000000000000001", "3."]
    static let signals = ["9", "15", "1", "64", "0", "65", "-9", "9.0", "\"KILL\"", "1e1"]
    static let times = ["2026-12-03T08:39:19.188Z", "2026-12-03T08:39:19.188+00:00", "2026-12-03T10:09:19.188123+01:30",
                        "2026-12-03T08:39:19Z", "2026-13-03T08:39:19Z", "not a time"]

    /// Lines in the clients' shape, with values (valid or not) drawn from the tables.
    static func lines(_ rng: inout SplitMix64, count: Int) -> [String] {
        func pick<T>(_ xs: [T]) -> T { xs[Int(rng.next() % UInt64(xs.count))] }
        func quoted(_ s: String) -> String {
            "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        }
        return (0..<count).map { i in
            let agent = i % 4 == 0 ? pick(names) : "planner", cli = i % 5 == 0 ? pick(names) : "claude"
            let inv = i % 9 == 0 ? "xyz" : String(rng.next() >> (rng.next() % 64), radix: 16)
            let pid = i % 17 == 0 ? "99999999999" : String(rng.next() % 100_000)
            let time = pick(times)
            if i % 3 == 0 {
                return "{\"kind\":\"mark\",\"agent\":\(quoted(agent)),\"cli\":\(quoted(cli)),\"invocation\":\"\(inv)\",\"time\":\"\(time)\",\"pid\":\(pid)}"
            }
            let outcome = i % 7 == 0 ? "failed" : (i % 23 == 0 ? "maybe" : "ok")
            let exit = i % 2 == 0 ? ",\"exitCode\":\(Int64(bitPattern: rng.next()) % 400)" : ""
            // Valid and invalid signals, with and without an exit code and a failed outcome.
            let signal = (i % 7 == 0 && i % 2 == 1) || i % 11 == 1 ? ",\"signal\":\(pick(signals))" : ""
            return "{\"kind\":\"measure\",\"agent\":\(quoted(agent)),\"cli\":\(quoted(cli)),\"invocation\":\"\(inv)\","
                + "\"durationMs\":\(pick(durations)),\"outcome\":\"\(outcome)\"\(exit)\(signal),\"time\":\"\(time)\",\"pid\":\(pid)}"
        }
    }

    /// The general parser's event of `bytes`, or `nil` when it gives none or refuses the line.
    static func general(_ bytes: [UInt8]) -> Event? {
        bytes.withUnsafeBytes { raw in
            let parsed = try? IncomingEvent.reading(line: raw, number: 1, receivedWallNs: ServiceLine.receivedWallNs,
                                                    newInvocation: { ServiceLine.fresh }, fastPath: false)
            guard case .complete(let e)? = parsed else { return nil }
            return e
        }
    }

    static func fast(_ bytes: [UInt8]) -> Event? {
        bytes.withUnsafeBufferPointer { ClientFastLine.event($0, from: 0, to: $0.count) }
    }

    @Test("every line the fast path takes reads the same through the general parser, and it takes the clients' lines")
    func agreesAndTakesClientLines() {
        var rng = SplitMix64(seed: 5)
        var taken = 0, signalled = 0
        for line in Self.lines(&rng, count: 4000) {
            let bytes = Array(line.utf8)
            let general = Self.general(bytes)
            if let fast = Self.fast(bytes) {
                taken += 1
                if fast.signal != nil { signalled += 1 }
                #expect(general == fast, "\(line)")
            }
        }
        #expect(taken > 1000)
        #expect(signalled > 10, "the fast path takes measures ended by a signal")
    }

    @Test("the lines the Node.js and Python clients write take the fast path", arguments: [
        #"{"kind":"mark","agent":"planner","cli":"claude","invocation":"6f1c2a9e0b3d4471","time":"2026-12-03T08:39:19.188Z","pid":4242}"#,
        #"{"kind":"measure","agent":"planner","cli":"claude","invocation":"6f1c2a9e0b3d4471","durationMs":0.43248000000000004,"outcome":"ok","time":"2026-12-03T08:39:19.188Z","pid":4242}"#,
        #"{"kind":"measure","agent":"coder","cli":"codex","invocation":"00000000000000ff","durationMs":812.413000,"outcome":"failed","exitCode":1,"time":"2026-12-03T08:39:19.188+00:00","pid":7}"#,
        #"{"kind":"measure","agent":"coder","cli":"codex","invocation":"00000000000000ff","durationMs":812.413,"outcome":"failed","signal":9,"time":"2026-12-03T08:39:19.188Z","pid":7}"#,
    ])
    func clientLines(_ line: String) throws {
        let bytes = Array(line.utf8)
        let fast = try #require(Self.fast(bytes))
        #expect(Self.general(bytes) == fast)
    }

    @Test("mutated lines: whatever the fast path takes, the general parser reads as the same event")
    func agreesOnMutatedLines() {
        var rng = SplitMix64(seed: 31)
        let alphabet = Array("0123456789.-+eE\"\\:,{}[] aAfFzZT\r\n\t".utf8) + [0x00, 0x1F, 0x7F, 0xC3, 0xA9, 0xFF]
        let lines = Self.lines(&rng, count: 300)
        for round in 0..<20_000 {
            var bytes = Array(lines[round % lines.count].utf8)
            for _ in 0..<(1 + Int(rng.next() % 3)) {
                let at = Int(rng.next() % UInt64(bytes.count + 1))
                let c = alphabet[Int(rng.next() % UInt64(alphabet.count))]
                switch rng.next() % 3 {
                case 0 where at < bytes.count: bytes[at] = c
                case 1 where at < bytes.count: bytes.remove(at: at)
                default: bytes.insert(c, at: at)
                }
            }
            if let fast = Self.fast(bytes) {
                #expect(Self.general(bytes) == fast, "\(String(decoding: bytes, as: UTF8.self))")
            }
        }
    }
}
