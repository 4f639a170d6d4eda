import Foundation
import InMemoryLogging
import Logging
@testable import PerfLog
import PerfLogTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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
    /// `2026-01-19T20:50:24.123456Z`.
    static let t: Int64 = 1_768_855_824_123_456_000

    static func events(_ n: Int, _ stream: StreamName, key: UInt64, payload: Int = 0) -> [Event] {
        (0..<n).map { i in
            .measure(stream, invocation: InvocationID(rawValue: key << 16 | UInt64(i)), durationNs: UInt64(i + 1), outcome: .ok,
                     wallTimeNs: SettlementTests.t + Int64(i), pid: 1,
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
        let batch = Self.events(25, StreamName(unchecked: "planner", cli: "claude"), key: 1)
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
            let stream = StreamName(unchecked: "agent-\(t)", cli: "cli")
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

    @Test("group commit: by default a lone event commits with no flush, and what comes while a commit runs is the next batch, whole")
    func groupCommit() throws {
        #expect(Recorder.Options().maxDelay == .zero)
        let dir = try TemporaryDirectory()
        let log = try makeLog(dir)
        let recorder = Recorder(log: log)
        let settled = Settlements()
        let stream = StreamName(unchecked: "planner", cli: "claude")
        // The lone event's settlement holds the writer right after its commit.
        let reached = DispatchSemaphore(value: 0), go = DispatchSemaphore(value: 0)
        let lone = settled.callback("lone")
        recorder.record(contentsOf: Self.events(1, stream, key: 1)) { result in
            lone(result)
            reached.signal()
            _ = go.wait(timeout: .now() + 60)
        }
        guard waitOrFail(reached, "the lone event was committed without a flush") else { return }
        #expect(recorder.counters.commits == 1 && recorder.counters.committed == 1)
        for key in 2...6 {
            recorder.record(contentsOf: Self.events(key, stream, key: UInt64(key)), whenSettled: settled.callback("b\(key)"))
        }
        go.signal()
        let entries = settled.wait(for: 6)
        #expect(entries.map(\.name) == ["lone", "b2", "b3", "b4", "b5", "b6"])
        #expect(entries.allSatisfy { $0.result.succeeded })
        // The five batches recorded during the first commit went into one more commit.
        #expect(recorder.counters.commits == 2 && recorder.counters.committed == 21)
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
        let batch = Self.events(3, StreamName(unchecked: "planner", cli: "claude"), key: 2)
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
        let stream = StreamName(unchecked: "planner", cli: "claude")
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
        let stream = StreamName(unchecked: "planner", cli: "claude")

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
        let stream = StreamName(unchecked: "planner", cli: "claude")
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
