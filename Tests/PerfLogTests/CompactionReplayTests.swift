import Foundation
@testable import PerfLog
import PerfLogTestSupport
import Testing

/// A compaction applies what was committed during its copy by replaying it; these
/// tests commit at each of its steps and compare the result with a log that saw the
/// same commits and no compaction.
@Suite("Compaction replay", .serialized)
struct CompactionReplayTests {
    /// Deterministic batches of marks and measures over a few streams: measures close
    /// marks, some invocations are reused (a newer mark replaces an older one, in the
    /// same stream or another), rings are small so that measures are evicted and
    /// collected while the copy is made.
    struct Workload {
        var rng: SplitMix64
        let names: [StreamName]
        var open: [(InvocationID, Int)] = []
        var n: Int64 = 0

        init(seed: UInt64, streams: Int) throws {
            rng = SplitMix64(seed: seed)
            names = try (0..<streams).map { try StreamName(agent: "agent\($0)", cli: "cli") }
        }

        mutating func batch(_ count: Int) -> [Event] {
            (0..<count).map { _ in
                n += 1
                let roll = rng.next() % 10
                if roll < 3 || open.isEmpty {
                    let stream = Int(rng.next() % UInt64(names.count))
                    let reuse = roll == 0 && !open.isEmpty
                    let invocation = reuse ? open[Int(rng.next() % UInt64(open.count))].0 : InvocationID(rawValue: rng.next())
                    open.append((invocation, stream))
                    return .mark(names[stream], invocation: invocation, wallTimeNs: n, pid: 7)
                }
                if roll < 7 {
                    let (invocation, stream) = open.remove(at: Int(rng.next() % UInt64(open.count)))
                    return .measure(names[stream], invocation: invocation, durationNs: rng.next() % 1_000_000,
                                    outcome: roll == 6 ? .failed : .ok, exitCode: roll == 6 ? 1 : 0, wallTimeNs: n, pid: 7)
                }
                // A stream seen for the first time now and then.
                let stream = roll == 9 ? StreamName.fresh(n) : names[Int(rng.next() % UInt64(names.count))]
                return .measure(stream, invocation: InvocationID(rawValue: rng.next()), durationNs: rng.next() % 1_000_000,
                                outcome: .ok, exitCode: 0, wallTimeNs: n, pid: 7)
            }
        }
    }

    struct Dump: Equatable {
        var timeline: [Event]
        var streams: [StreamSummary]
        var open: [Event]
        var lastSeq: UInt64
    }

    func dump(_ log: EventLog) throws -> Dump {
        try log.read { r in
            #expect(try r.verify() == [])
            // Two logs start their streams' counters at different times; what they count
            // must be the same.
            let streams = try r.streams().map { s in var s = s; s.lifetime.startedNs = 0; return s }
            return Dump(timeline: try r.timeline(), streams: streams, open: try r.openMarks(), lastSeq: try r.lastSeq())
        }
    }

    @Test("commits made while the copy is made and repaired are replayed: the compacted log equals one that saw no compaction", arguments: [1, 3, 50])
    func replayEqualsLive(retain: Int) throws {
        let dir = try TemporaryDirectory()
        var options = EventLog.Options()
        options.retain = retain
        let live = try EventLog(path: dir.path + "/live", options: options)
        let reference = try EventLog(path: dir.path + "/reference", options: options)
        var work = try Workload(seed: UInt64(retain), streams: 6)
        func commit(_ count: Int) throws {
            let events = work.batch(count)
            try live.append(events)
            try reference.append(events)
        }
        for _ in 0..<40 { try commit(50) }
        let started = Dictionary(uniqueKeysWithValues: try live.read { try $0.streams() }.map { ($0.stream, $0.lifetime.startedNs) })
        var phases: [CompactionPhase] = []
        let report = try live.compact { phase in
            phases.append(phase)
            // Commits after the copy's snapshot, at every step but the swap.
            if case .swapped = phase { return }
            for _ in 0..<30 { try? commit(20) }
        }
        #expect(phases.first == .copying)
        #expect(report.eventsCaughtUp > 0)
        try commit(100)
        #expect(try dump(live) == dump(reference))
        // The counters were kept, not started again.
        for s in try live.read({ try $0.streams() }) where started[s.stream] != nil {
            #expect(s.lifetime.startedNs == started[s.stream])
        }
        // Every process reopens the compacted file: a fresh opening sees the same.
        #expect(try dump(try EventLog(path: dir.path + "/live")) == dump(reference))
    }

    @Test("more than the unlocked passes' threshold committed during the copy: caught up in several passes")
    func manyCommitsDuringTheCopy() throws {
        let dir = try TemporaryDirectory()
        var options = EventLog.Options()
        options.retain = 10_000
        let live = try EventLog(path: dir.path + "/live", options: options)
        let reference = try EventLog(path: dir.path + "/reference", options: options)
        var work = try Workload(seed: 99, streams: 20)
        func commit(_ count: Int) throws {
            let events = work.batch(count)
            try live.append(events)
            try reference.append(events)
        }
        for _ in 0..<20 { try commit(100) }
        var catchUps = 0
        let report = try live.compact { phase in
            switch phase {
            case .repairing: for _ in 0..<60 { try? commit(100) }
            case .catchingUp: catchUps += 1; if catchUps < 3 { for _ in 0..<25 { try? commit(100) } }
            default: break
            }
        }
        #expect(catchUps >= 1, "\(report)")
        #expect(try dump(live) == dump(reference))
    }

    @Test("a running compaction holds the maintenance lock, naming its pid, while readers and writers go on")
    func repairDuringCompaction() throws {
        let dir = try TemporaryDirectory()
        let log = try EventLog(path: dir.path + "/log")
        try log.append([.measure(try StreamName(agent: "a", cli: "c"), invocation: .random(), durationNs: 1, outcome: .ok, wallTimeNs: 1, pid: 1)])
        let other = try EventLog(path: dir.path + "/log")
        var refused: PerfLogError?
        _ = try log.compact { phase in
            guard phase == .copying else { return }
            // The compaction holds the maintenance lock that a repair takes.
            let probe = Gate(directory: dir.path + "/log", create: false)
            if !probe.lockMaintenance(deadlineNs: 0, recordingPid: false) {
                refused = .busy(path: "", reason: "pid \(probe.maintenanceHolder() ?? 0)")
            }
            // Readers and writers go on.
            _ = try? other.read { try $0.streams() }
            _ = try? other.append([.measure(try! StreamName(agent: "a", cli: "c"), invocation: .random(), durationNs: 2, outcome: .ok, wallTimeNs: 2, pid: 1)])
        }
        #expect(refused == .busy(path: "", reason: "pid \(getpid())"))
        #expect(try other.read { try $0.summary(StreamName(agent: "a", cli: "c"))?.count } == 2)
    }

    @Test("a copy left by a killed compaction is removed at the next open for writing")
    func leftoverRemoved() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path + "/log"
        _ = try EventLog(path: path)
        try FileManager.default.createDirectory(atPath: path + "/data.mdb.compact/stage", withIntermediateDirectories: true)
        #expect(FileManager.default.createFile(atPath: path + "/data.mdb.compact/data.mdb", contents: Data(count: 4096)))
        var readOnly = EventLog.Options()
        readOnly.readOnly = true
        _ = try EventLog(path: path, options: readOnly)
        #expect(FileManager.default.fileExists(atPath: path + "/data.mdb.compact"))
        _ = try EventLog(path: path)
        #expect(!FileManager.default.fileExists(atPath: path + "/data.mdb.compact"))
    }
}

extension StreamName {
    static func fresh(_ n: Int64) -> StreamName { try! StreamName(agent: "new\(n)", cli: "cli") }
}
