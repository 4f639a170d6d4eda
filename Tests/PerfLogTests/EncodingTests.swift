import Foundation
@testable import PerfLog
import Testing

@Suite("Event encoding")
struct EncodingTests {
    static func randomEvent(_ rng: inout SplitMix64) throws -> Event {
        let kind: Event.Kind = rng.next() % 2 == 0 ? .mark : .measure
        var meta = Metadata()
        for i in 0..<Int(rng.next() % 4) { meta["k\(i)"] = String(repeating: "é", count: Int(rng.next() % 20)) }
        let failed = kind == .measure && rng.next() % 3 == 0
        // A failed measure ends with an exit code, a signal, or neither.
        let ending = failed ? rng.next() % 3 : 2
        return Event(
            seq: rng.next() >> UInt64(rng.next() % 64), kind: kind,
            stream: try StreamName(agent: "a\(rng.next() % 5)", cli: "c"), invocation: InvocationID(rawValue: rng.next()),
            wallTimeNs: Int64(bitPattern: rng.next()), durationNs: kind == .measure ? rng.next() >> UInt64(rng.next() % 64) : 0,
            outcome: failed ? .failed : .ok, exitCode: ending == 0 ? Int32(truncatingIfNeeded: Int64(bitPattern: rng.next())) : nil,
            signal: ending == 1 ? Int32(1 + rng.next() % 64) : nil, pid: Int32(truncatingIfNeeded: rng.next()), meta: meta)
    }

    @Test("records round-trip", arguments: 0..<4)
    func roundTrip(seed: Int) throws {
        var rng = SplitMix64(seed: UInt64(seed))
        for _ in 0..<2000 {
            let e = try Self.randomEvent(&rng)
            #expect(try EventRecord.decode(EventRecord.encode(e), stream: e.stream) == e)
        }
    }

    @Test("a signal is stored after the exit code's place, under flag bit 4; a record without one is laid out as before")
    func signalLayout() throws {
        let stream = try StreamName(agent: "a", cli: "c")
        var e = Event.measure(stream, invocation: InvocationID(rawValue: 0x0102_0304_0506_0708), durationNs: 5, outcome: .failed,
                              signal: 9, wallTimeNs: 3, pid: 2, meta: ["k": "v"])
        e.seq = 1
        // version, flags (measure, failed, meta, signal), seq, wall, invocation, duration, pid, signal (zigzag 9 = 18), meta.
        let withSignal: [UInt8] = [1, 0x1B, 1, 6, 8, 7, 6, 5, 4, 3, 2, 1, 5, 4, 18, 1, 1, 0x6B, 1, 0x76]
        #expect(EventRecord.encode(e) == withSignal)
        #expect(try EventRecord.decode(withSignal, stream: stream) == e)
        e.signal = nil
        e.exitCode = 137
        // The schema-2 layout, unchanged: exit code (zigzag 137 = 274) where the signal would go.
        let withExitCode: [UInt8] = [1, 0x0F, 1, 6, 8, 7, 6, 5, 4, 3, 2, 1, 5, 4, 0x92, 0x02, 1, 1, 0x6B, 1, 0x76]
        #expect(EventRecord.encode(e) == withExitCode)
        #expect(try EventRecord.decode(withExitCode, stream: stream) == e)
    }

    @Test("a stored signal that breaks the event rules is refused as damage", arguments: [
        // signal 0 and 65
        [1, 0x13, 1, 6, 8, 7, 6, 5, 4, 3, 2, 1, 5, 4, 0],
        [1, 0x13, 1, 6, 8, 7, 6, 5, 4, 3, 2, 1, 5, 4, 130, 1],
        // on an ok measure, on a mark, with an exit code
        [1, 0x11, 1, 6, 8, 7, 6, 5, 4, 3, 2, 1, 5, 4, 18],
        [1, 0x10, 1, 6, 8, 7, 6, 5, 4, 3, 2, 1, 4, 18],
        [1, 0x17, 1, 6, 8, 7, 6, 5, 4, 3, 2, 1, 5, 4, 2, 18],
        // a flag bit no schema has
        [1, 0x23, 1, 6, 8, 7, 6, 5, 4, 3, 2, 1, 5, 4],
    ] as [[UInt8]])
    func badSignals(_ bytes: [UInt8]) throws {
        let stream = try StreamName(agent: "a", cli: "c")
        let error = #expect(throws: PerfLogError.self) { try EventRecord.decode(bytes, stream: stream) }
        guard case .corrupt? = error else { Issue.record("expected corrupt, got \(String(describing: error))"); return }
        if bytes[1] & ~EventRecord.knownFlags != 0 {
            #expect(throws: PerfLogError.self) { try bytes.withUnsafeBytes { try EventRecord.decodeHead($0) } }
        }
    }

    @Test("every truncation of a record throws")
    func truncations() throws {
        var rng = SplitMix64(seed: 99)
        for _ in 0..<200 {
            let e = try Self.randomEvent(&rng)
            let bytes = EventRecord.encode(e)
            for n in 0..<bytes.count {
                #expect(throws: PerfLogError.self) { try EventRecord.decode(Array(bytes[..<n]), stream: e.stream) }
            }
        }
    }

    @Test("random and mutated bytes never crash the decoders")
    func garbage() throws {
        var rng = SplitMix64(seed: 7)
        let stream = try StreamName(agent: "a", cli: "c")
        var decoded = 0
        for i in 0..<50_000 {
            var bytes: [UInt8]
            if i % 2 == 0 {
                bytes = (0..<Int(rng.next() % 64)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            } else {
                bytes = EventRecord.encode(try Self.randomEvent(&rng))
                for _ in 0...(rng.next() % 3) where !bytes.isEmpty {
                    bytes[Int(rng.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: rng.next())
                }
            }
            if (try? EventRecord.decode(bytes, stream: stream)) != nil { decoded += 1 }
            _ = try? RingRecord.decode(bytes, retain: 100)
        }
        #expect(decoded < 50_000)
    }

    @Test("summaries round-trip")
    func summaryRoundTrip() throws {
        var s = StreamSummary(stream: try StreamName(agent: "plänner", cli: "claude"))
        s.appended = 12345
        s.count = 100
        s.failures = 3
        s.okTotalNs = 987_654_321
        s.inFlight = 2
        s.lastSeq = 77
        #expect(try RingRecord.decode(RingRecord.encode(Ring(summary: s, slots: Array(0..<100))), retain: 100).summary == s)
    }
}

@Suite("Stream names and metadata")
struct ValidationTests {
    @Test("bad names are refused with the field and the rule", arguments: [
        ("", "must not be empty"),
        (String(repeating: "x", count: 129), "at most 128 bytes"),
        (String(repeating: "é", count: 65), "at most 128 bytes"),
        ("tab\there", "control characters"),
        ("bell\u{7}", "control characters"),
        ("c1\u{85}", "control characters"),
    ])
    func badNames(name: String, rule: String) {
        let error = #expect(throws: PerfLogError.self) { _ = try StreamName(agent: name, cli: "claude") }
        #expect(error?.description.hasPrefix("agent: ") == true)
        #expect(error?.description.contains(rule) == true)
        let cliError = #expect(throws: PerfLogError.self) { _ = try StreamName(agent: "planner", cli: name) }
        #expect(cliError?.description.hasPrefix("cli: ") == true)
    }

    @Test("good names are kept as given", arguments: ["planner", "规划者", "a,\"b\"", String(repeating: "x", count: 128)])
    func goodNames(name: String) throws {
        #expect(try StreamName(agent: name, cli: name).agent == name)
    }

    @Test("metadata is bounded")
    func metadataBounds() throws {
        #expect(throws: PerfLogError.self) { _ = try Metadata.validated([("", "v")]) }
        #expect(throws: PerfLogError.self) { _ = try Metadata.validated([("k", String(repeating: "v", count: 257))]) }
        #expect(throws: PerfLogError.self) { _ = try Metadata.validated((0..<17).map { ("k\($0)", "v") }) }
        let m = try Metadata.validated([("b", "2"), ("a", "1"), ("b", "3")])
        #expect(m.entries.map(\.key) == ["a", "b"])
        #expect(m["b"] == "3")
    }
}
