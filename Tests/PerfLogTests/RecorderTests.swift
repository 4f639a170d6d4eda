import Foundation
import InMemoryLogging
import Logging
@testable import PerfLog
import PerfLogTestSupport
import Testing

/// Holds the log's write lock on its own thread until released, so that the recorder's
/// writer blocks in its next commit: a deterministic way to fill the buffer.
final class WriteLockHolder: @unchecked Sendable {
    // Why @unchecked Sendable is safe: `released` and `holding` are guarded by `condition`.
    private let condition = NSCondition()
    private var released = false
    private var holding = false
    private var thread: Thread?

    init(_ log: EventLog) {
        let t = Thread { [self] in
            try? log.environment.write { _ in
                condition.lock()
                holding = true
                condition.broadcast()
                while !released { condition.wait() }
                condition.unlock()
            }
        }
        thread = t
        t.start()
        condition.lock()
        while !holding { condition.wait() }
        condition.unlock()
    }

    func release() {
        condition.lock()
        released = true
        condition.broadcast()
        condition.unlock()
    }
}

@Suite("Recorder")
struct RecorderTests {
    func makeLog(_ dir: TemporaryDirectory, retain: Int = 100_000) throws -> EventLog {
        var options = EventLog.Options()
        options.retain = retain
        return try EventLog(path: dir.path + "/log", options: options)
    }

    @Test("recording from many tasks and threads at once loses nothing")
    func concurrentRecording() async throws {
        let dir = try TemporaryDirectory()
        let log = try makeLog(dir)
        let recorder = Recorder(log: log)
        let perWorker = 2_000
        await withTaskGroup(of: Void.self) { group in
            for task in 0..<8 {
                group.addTask {
                    for i in 0..<perWorker {
                        if i % 2 == 0 {
                            _ = try? recorder.record(agent: "task-\(task)", cli: "claude", duration: .milliseconds(i))
                        } else {
                            let inv = try? recorder.start(agent: "task-\(task)", cli: "claude")
                            if let inv { recorder.end(inv) }
                        }
                    }
                }
            }
        }
        DispatchQueue.concurrentPerform(iterations: 8) { thread in
            for i in 0..<perWorker {
                _ = try? recorder.record(agent: "thread-\(thread)", cli: "codex", duration: .microseconds(i))
            }
        }
        try recorder.flush()
        let counters = recorder.counters
        // Task workers record one measure per iteration (half via a mark first).
        #expect(counters.recorded == UInt64(16 * perWorker + 8 * perWorker / 2))
        #expect(counters.committed == counters.recorded)
        #expect(counters.lost == 0 && counters.dropped == 0)
        try log.read { (r: LogReader) throws in
            #expect(try r.verify() == [])
            for task in 0..<8 {
                let s = try r.summary(try StreamName(agent: "task-\(task)", cli: "claude"))
                #expect(s?.appended == UInt64(perWorker))
                #expect(s?.inFlight == 0)
            }
            for thread in 0..<8 {
                #expect(try r.summary(try StreamName(agent: "thread-\(thread)", cli: "codex"))?.appended == UInt64(perWorker))
            }
        }
        try recorder.close()
    }

    @Test("flush returns once everything recorded before it is committed")
    func flushOrdering() throws {
        let dir = try TemporaryDirectory()
        let log = try makeLog(dir)
        var options = Recorder.Options()
        options.maxDelay = .seconds(30)  // only a flush (or a full batch) commits
        let recorder = Recorder(log: log, options: options)
        let stream = try StreamName(agent: "planner", cli: "claude")
        var total: UInt64 = 0
        for round in 1...20 {
            for _ in 0..<(round * 7) { try recorder.record(stream, duration: .milliseconds(3)) }
            total += UInt64(round * 7)
            try recorder.flush()
            #expect(try log.read { try $0.summary(stream)?.appended } == total)
        }
        try recorder.close()
    }

    @Test("a full buffer makes recording wait, and nothing is lost")
    func fullBufferWaits() throws {
        let dir = try TemporaryDirectory()
        let log = try makeLog(dir)
        var options = Recorder.Options()
        options.bufferCapacity = 64
        options.maxBatch = 16
        options.whenFull = .wait
        let recorder = Recorder(log: log, options: options)
        let stream = try StreamName(agent: "planner", cli: "claude")
        let holder = WriteLockHolder(log)
        let producer = Thread {
            for _ in 0..<1_000 { _ = try? recorder.record(stream, duration: .milliseconds(1)) }
        }
        producer.start()
        eventually("the producer waits for room") { recorder.counters.waitingForRoom == 1 }
        #expect(recorder.counters.dropped == 0)
        holder.release()
        eventually("every event is recorded") { recorder.counters.recorded == 1_000 }
        try recorder.flush()
        #expect(recorder.counters.committed == 1_000)
        #expect(recorder.counters.waitedForRoom > 0)
        #expect(try log.read { try $0.summary(stream)?.appended } == 1_000)
        try recorder.close()
    }

    @Test("a full buffer with the drop policy counts every dropped event")
    func fullBufferDrops() throws {
        let dir = try TemporaryDirectory()
        let log = try makeLog(dir)
        var options = Recorder.Options()
        options.bufferCapacity = 64
        options.maxBatch = 16
        options.whenFull = .drop
        let recorder = Recorder(log: log, options: options)
        let stream = try StreamName(agent: "planner", cli: "claude")
        let holder = WriteLockHolder(log)
        for _ in 0..<1_000 { try recorder.record(stream, duration: .milliseconds(1)) }
        let whileBlocked = recorder.counters
        // At most one batch left the buffer before the writer blocked on the lock.
        #expect(whileBlocked.recorded <= 64 + 16)
        #expect(whileBlocked.recorded + whileBlocked.dropped == 1_000)
        holder.release()
        try recorder.flush()
        let after = recorder.counters
        #expect(after.committed == whileBlocked.recorded)
        #expect(try log.read { try $0.summary(stream)?.appended } == whileBlocked.recorded)
        try recorder.close()
    }

    @Test("a failing store does not crash the program: flush reports it, the log and counters record it")
    func failingStore() throws {
        let dir = try TemporaryDirectory()
        _ = try makeLog(dir)
        var logOptions = EventLog.Options()
        logOptions.readOnly = true
        let readOnly = try EventLog(path: dir.path + "/log", options: logOptions)
        let handler = InMemoryLogHandler()
        var options = Recorder.Options()
        options.logger = Logger(label: "test", factory: { _ in handler })
        let recorder = Recorder(log: readOnly, options: options)
        for i in 0..<100 { try recorder.record(agent: "planner", cli: "claude", duration: .milliseconds(i)) }
        let error = #expect(throws: PerfLogError.self) { try recorder.flush() }
        guard case .storage = error else { Issue.record("expected a storage error, got \(String(describing: error))"); return }
        #expect(recorder.counters.lost == 100)
        #expect(recorder.counters.failedCommits >= 1)
        #expect(handler.entries.contains { $0.level == .error && "\($0.message)".contains("failed") })
        // The program goes on: recording still returns, and a later flush reports again.
        try recorder.record(agent: "planner", cli: "claude", duration: .milliseconds(1))
        #expect(throws: PerfLogError.self) { try recorder.flush() }
        #expect(throws: Never.self) { try? recorder.close() }
    }

    @Test("measure records ok, or failed when the body throws, and rethrows")
    func measureBody() async throws {
        struct Boom: Error {}
        let dir = try TemporaryDirectory()
        let log = try makeLog(dir)
        let recorder = Recorder(log: log)
        let value = try await recorder.measure(agent: "coder", cli: "codex") { 42 }
        #expect(value == 42)
        await #expect(throws: Boom.self) {
            try await recorder.measure(agent: "coder", cli: "codex") { () async throws -> Int in throw Boom() }
        }
        try recorder.flush()
        let ring = try log.read { try $0.ring(try StreamName(agent: "coder", cli: "codex")) }
        #expect(ring.map(\.outcome) == [.ok, .failed])
        #expect(try recorder.summary(agent: "coder", cli: "codex")?.failures == 1)
        #expect(try recorder.averageDuration(agent: "coder", cli: "codex") != nil)
        try recorder.close()
    }

    @Test("start and end time an invocation on a monotonic clock")
    func startEnd() throws {
        let dir = try TemporaryDirectory()
        let log = try makeLog(dir)
        let recorder = Recorder(log: log)
        let inv = try recorder.start(agent: "planner", cli: "gemini", meta: ["model": "pro"])
        try recorder.flush()
        #expect(try log.read { try $0.openMarks().map(\.invocation) } == [inv.id])
        usleep(2_000)  // the thing being timed, not synchronisation
        let duration = recorder.end(inv, outcome: .failed, exitCode: 3)
        try recorder.flush()
        #expect(duration >= .milliseconds(2))
        let events = try log.read { try $0.timeline() }
        #expect(events.count == 1)
        #expect(events.first?.durationNs == UInt64(duration.components.attoseconds / 1_000_000_000) + UInt64(duration.components.seconds) * 1_000_000_000)
        #expect(events.first?.exitCode == 3)
        #expect(events.first?.meta["model"] == "pro")
        #expect(try log.read { try $0.openMarks() }.isEmpty)
        try recorder.close()
    }

    @Test("the events sequence delivers committed events with their seq")
    func observer() async throws {
        let dir = try TemporaryDirectory()
        let log = try makeLog(dir)
        let recorder = Recorder(log: log)
        let stream = recorder.events()
        for i in 0..<5 { try recorder.record(agent: "a", cli: "b", duration: .milliseconds(i)) }
        try recorder.flush()
        try recorder.close()
        var seqs: [UInt64] = []
        for await e in stream { seqs.append(e.seq) }
        #expect(seqs == [1, 2, 3, 4, 5])
    }

    @Test("bad input is refused before anything is recorded", arguments: [
        ("", "claude"), ("planner", ""), (String(repeating: "x", count: 129), "claude"), ("a\nb", "claude"),
    ])
    func badInput(agent: String, cli: String) throws {
        let dir = try TemporaryDirectory()
        let log = try makeLog(dir)
        let recorder = Recorder(log: log)
        #expect(throws: PerfLogError.self) { try recorder.record(agent: agent, cli: cli, duration: .milliseconds(1)) }
        #expect(throws: PerfLogError.self) { try recorder.record(agent: "a", cli: "b", duration: .milliseconds(-1)) }
        try recorder.close()
        #expect(recorder.counters.recorded == 0)
    }
}
