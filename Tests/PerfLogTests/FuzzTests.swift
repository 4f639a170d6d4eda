import Foundation
@testable import PerfLog
import Testing

/// Mutation-based fuzzing of everything that decodes bytes from outside: stored event
/// and stream records (a damaged file) and the import parser (hostile input). Each
/// iteration takes a valid seed input and mutates it (bit flips, byte changes,
/// insertions, deletions, truncation, splices of two seeds, bytes that matter to the
/// formats) or makes random bytes; decoding must throw or succeed, never trap, and what
/// decodes must re-encode to something that decodes to the same value.
///
/// `tools/test` runs a short pass; `tools/fuzz` runs a long one (PERFLOG_FUZZ_ITERATIONS,
/// default 1,000,000 per target) in release mode.
struct Mutator {
    var rng: SplitMix64
    let interesting: [UInt8] = [0x00, 0x01, 0x7F, 0x80, 0xFF, 0xFE, 0x22, 0x5C, 0x7B, 0x7D, 0x5B, 0x5D, 0x2C, 0x3A, 0x0A, 0x2D, 0x2E, 0x65, 0xC0, 0xED]

    mutating func int(_ n: Int) -> Int { n <= 0 ? 0 : Int(rng.next() % UInt64(n)) }

    mutating func mutate(_ seeds: [[UInt8]]) -> [UInt8] {
        if int(16) == 0 { return (0..<int(96)).map { _ in UInt8(truncatingIfNeeded: rng.next()) } }
        var bytes = seeds[int(seeds.count)]
        for _ in 0...int(4) {
            switch int(7) {
            case 0 where !bytes.isEmpty:
                bytes[int(bytes.count)] ^= 1 << UInt8(int(8))
            case 1 where !bytes.isEmpty:
                bytes[int(bytes.count)] = interesting[int(interesting.count)]
            case 2:
                bytes.insert(interesting[int(interesting.count)], at: int(bytes.count + 1))
            case 3 where !bytes.isEmpty:
                bytes.remove(at: int(bytes.count))
            case 4:
                bytes = Array(bytes.prefix(int(bytes.count + 1)))
            case 5:
                let other = seeds[int(seeds.count)]
                bytes = Array(bytes.prefix(int(bytes.count + 1))) + Array(other.suffix(int(other.count + 1)))
            default:
                if !bytes.isEmpty {
                    let at = int(bytes.count)
                    bytes.replaceSubrange(at..<at, with: Array(repeating: bytes[at], count: int(64)))
                }
            }
        }
        return bytes
    }
}

@Suite("Fuzzing the decoders")
struct FuzzTests {
    static var iterations: Int {
        ProcessInfo.processInfo.environment["PERFLOG_FUZZ_ITERATIONS"].flatMap(Int.init) ?? 30_000
    }

    static func seedEvents() throws -> [Event] {
        let s = try StreamName(agent: "planner", cli: "claude")
        return [
            .mark(s, invocation: InvocationID(rawValue: 0x6F1C_2A9E_0B3D_4471), wallTimeNs: 1_768_855_824_123_456_000, pid: 4242, meta: ["model": "opus"]),
            .measure(s, invocation: InvocationID(rawValue: 1), durationNs: 812_413_000, outcome: .failed, exitCode: 1,
                     wallTimeNs: 1_768_855_824_123_456_000, pid: 4242, meta: ["model": "opus", "k": "v,\"q\""]),
            .measure(s, invocation: InvocationID(rawValue: .max), durationNs: 0, outcome: .ok, wallTimeNs: -5, pid: -1),
        ]
    }

    @Test("stored event and stream records")
    func storedRecords() throws {
        let stream = try StreamName(agent: "a", cli: "b")
        var seeds = try Self.seedEvents().map { e -> [UInt8] in var e = e; e.seq = 1042; return EventRecord.encode(e) }
        var ring = Ring(stream: try StreamName(agent: "plänner", cli: "claude"))
        for seq in 1...7 as ClosedRange<UInt64> {
            _ = ring.push(seq, retain: 5)
            ring.summary.add(.measure(stream, invocation: .random(), durationNs: seq, outcome: .ok, wallTimeNs: 0, pid: 0))
        }
        ring.summary.count = 5
        seeds.append(RingRecord.encode(ring))
        var m = Mutator(rng: SplitMix64(seed: UInt64.random(in: 1...UInt64.max)))
        var decoded = 0
        for _ in 0..<Self.iterations {
            let bytes = m.mutate(seeds)
            if let e = try? EventRecord.decode(bytes, stream: stream) {
                decoded += 1
                #expect(try EventRecord.decode(EventRecord.encode(e), stream: stream) == e)
            }
            if let r = try? RingRecord.decode(bytes, retain: 5) {
                #expect(try RingRecord.decode(RingRecord.encode(r), retain: 5).slots == r.slots)
            }
        }
        #expect(decoded > 0, "the mutator never produced a valid record: it is not exploring")
    }

    @Test("the import parser: NDJSON lines and the old flat array")
    func importParser() throws {
        let events = try Self.seedEvents().enumerated().map { i, e -> Event in var e = e; e.seq = UInt64(i + 1); return e }
        let ndjson = events.map(\.jsonLine).joined(separator: "\n") + "\n"
        let flat = """
            [{"agent":"planner","cli":"claude","duration":812.413,"timestamp":"2026-01-19T20:50:24.123Z","success":true},
             {"agent":"coder","cli":"codex","duration":1e3,"timestamp":1768855824123,"success":false}]
            """
        let seeds = [Array(ndjson.utf8), Array(flat.utf8)] + events.map { Array($0.jsonLine.utf8) }
        var m = Mutator(rng: SplitMix64(seed: UInt64.random(in: 1...UInt64.max)))
        var parsed = 0
        for i in 0..<Self.iterations {
            let bytes = m.mutate(seeds)
            if let result = try? ImportedEvents(parsing: bytes, skipInvalid: i % 2 == 0) {
                parsed += 1
                // What parses renders back to lines that parse to the same events.
                for e in result.events.prefix(3) {
                    let again = try Event(jsonLine: e.jsonLine)
                    #expect(again.stream == e.stream && again.invocation == e.invocation && again.kind == e.kind)
                }
            }
            if let text = String(validating: bytes, as: UTF8.self) { _ = try? Event(jsonLine: text) }
        }
        #expect(parsed > 0, "the mutator never produced valid input: it is not exploring")
    }
}
