import Foundation
import PerfLog
import PerfLogTestSupport
import Testing

/// Appends `total` measures round-robin over `streams`, `batch` per commit, and returns
/// the seq of the last one. Durations and outcomes vary so that summaries do real work.
private func fill(_ log: EventLog, streams: [StreamName], total: Int, batch: Int, seed: UInt64) throws -> UInt64 {
    var rng = SplitMix64(seed: seed)
    var events: [Event] = []
    events.reserveCapacity(batch)
    var written = 0, last: UInt64 = 0
    while written < total {
        events.removeAll(keepingCapacity: true)
        for n in written..<min(total, written + batch) {
            let failed = rng.next() % 16 == 0
            events.append(.measure(
                streams[n % streams.count], invocation: InvocationID(rawValue: rng.next()),
                durationNs: 1_000_000 + rng.next() % 30_000_000_000, outcome: failed ? .failed : .ok,
                exitCode: failed ? 1 : 0, wallTimeNs: 1_700_000_000_000_000_000 + Int64(n) * 1_000_000, pid: 42))
        }
        last = try log.append(events) + UInt64(events.count) - 1
        written += events.count
    }
    return last
}

private func fileSize(_ path: String) throws -> Int {
    let attributes = try FileManager.default.attributesOfItem(atPath: path)
    return (attributes[.size] as? NSNumber)?.intValue ?? 0
}

@Suite("Capacity", .serialized)
struct CapacityTests {
    @Test("a log created with a 1 MiB map grows it and absorbs 200,000 events over 2,000 streams")
    func smallMapGrows() throws {
        let dir = try TemporaryDirectory()
        var options = EventLog.Options()
        options.mapSize = 1 << 20
        options.durability = .fast
        let log = try EventLog(path: dir.path + "/log", options: options)
        let streams = try (0..<2_000).map { try StreamName(agent: "agent-\($0 / 4)", cli: ["claude", "codex", "gemini", "aider"][$0 % 4]) }

        let last = try fill(log, streams: streams, total: 200_000, batch: 1_000, seed: 7)
        #expect(last == 200_000)
        try log.sync()

        let info = try log.read { try $0.info() }
        print("1 MiB map after 200,000 events: map \(info.mapBytes) bytes, data.mdb \(info.fileBytes) bytes")
        #expect(info.mapBytes > 1 << 20)
        #expect(info.streams == 2_000)
        #expect(info.events == 200_000)
        #expect(try log.read { try $0.verify() } == [])
        // Each stream got exactly `retain` (100) measures: its ring holds every one, in order.
        let ring = try log.read { try $0.ring(streams[1_234]) }.map(\.seq)
        let expected: [UInt64] = (0..<100).map { (k: Int) -> UInt64 in UInt64(1_235 + k * 2_000) }
        #expect(ring == expected)

        // Another handle opened afterwards starts from the grown map and sees everything.
        let reopened = try EventLog(path: dir.path + "/log", options: options)
        #expect(try reopened.read { try $0.info() }.events == 200_000)
    }

    @Test("2,000,000 events over 1,000 streams (retain 100): data.mdb stays under 1.5× its compacted copy")
    func fileStaysCompact() throws {
        let dir = try TemporaryDirectory()
        var options = EventLog.Options()
        options.retain = 100
        // The size of the file depends on which pages LMDB can reuse, not on when they
        // reach the disk; skipping the per-commit flush keeps the test fast.
        options.durability = .fast
        let log = try EventLog(path: dir.path + "/log", options: options)
        let streams = try (0..<1_000).map { try StreamName(agent: "agent-\($0 / 5)", cli: "cli-\($0 % 5)") }

        // 250 events a commit: the size of a busy recorder's group commit, so freed pages
        // are recycled at the rate real use recycles them; 8,000 commits keep a debug
        // build within seconds.
        let total = 2_000_000
        let last = try fill(log, streams: streams, total: total, batch: 250, seed: 11)
        #expect(last == UInt64(total))
        try log.sync()
        #expect(try log.read { try $0.verify() } == [])
        #expect(try log.read { try $0.info() }.events == 100_000)

        let copy = dir.path + "/compacted"
        try FileManager.default.createDirectory(atPath: copy, withIntermediateDirectories: false)
        try log.environment.copy(to: copy, compact: true)
        let live = try fileSize(dir.path + "/log/data.mdb")
        let compacted = try fileSize(copy + "/data.mdb")
        #expect(compacted > 0)
        let ratio = Double(live) / Double(max(compacted, 1))
        print("data.mdb after \(total) events: \(live) bytes; compacted copy \(compacted) bytes; ratio \(String(format: "%.3f", ratio))")
        #expect(ratio < 1.5, "data.mdb is \(live) bytes, \(ratio)× its compacted copy (\(compacted) bytes)")
    }
}
