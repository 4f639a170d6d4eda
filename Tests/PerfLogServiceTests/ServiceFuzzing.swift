import Foundation
import PerfLog

/// What the fuzz tests of service lines start from: the decoders' fuzz tests in
/// PerfLogTests use the same seeds and mutations (a test target cannot use another's,
/// and PerfLogTestSupport stays free of the package's modules).
enum ServiceFuzzing {
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

    /// A random event of any kind and values (the generator of PerfLogTests' encoding tests).
    static func randomEvent(_ rng: inout SplitMix64) throws -> Event {
        let kind: Event.Kind = rng.next() % 2 == 0 ? .mark : .measure
        var meta = Metadata()
        for i in 0..<Int(rng.next() % 4) { meta["k\(i)"] = String(repeating: "é", count: Int(rng.next() % 20)) }
        let failed = kind == .measure && rng.next() % 3 == 0
        return Event(
            seq: rng.next() >> UInt64(rng.next() % 64), kind: kind,
            stream: try StreamName(agent: "a\(rng.next() % 5)", cli: "c"), invocation: InvocationID(rawValue: rng.next()),
            wallTimeNs: Int64(bitPattern: rng.next()), durationNs: kind == .measure ? rng.next() >> UInt64(rng.next() % 64) : 0,
            outcome: failed ? .failed : .ok, exitCode: failed ? Int32(truncatingIfNeeded: Int64(bitPattern: rng.next())) : nil,
            pid: Int32(truncatingIfNeeded: rng.next()), meta: meta)
    }

    /// The event as NDJSON keeps it: no seq, wall time truncated (floored) to the
    /// microsecond, duration rounded to the nearest microsecond (halves up).
    static func normalized(_ e: Event) -> Event {
        var e = e
        e.seq = 0
        e.wallTimeNs = (e.wallTimeNs / 1000 - (e.wallTimeNs % 1000 < 0 ? 1 : 0)) * 1000
        let us = e.durationNs / 1000 + (e.durationNs % 1000 >= 500 ? 1 : 0)
        e.durationNs = us.multipliedReportingOverflow(by: 1000).overflow ? .max : us * 1000
        return e
    }
}

/// Mutates seed inputs: bit flips, byte changes, insertions, deletions, truncation,
/// splices of two seeds, bytes that matter to JSON, or random bytes.
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
