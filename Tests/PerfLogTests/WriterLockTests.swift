import Foundation
@testable import PerfLog
import PerfLogTestSupport
import Testing

/// Holds the log's write lock through one opening of the log (its own descriptor of
/// `perflog.lock`, as another process would) until released.
private final class LockHolder: @unchecked Sendable {
    // Why @unchecked Sendable is safe: `holding` and `released` are guarded by `condition`.
    private let condition = NSCondition()
    private var holding = false
    private var released = false

    init(_ log: EventLog) {
        let t = Thread { [self] in
            try? log.write { _ in
                condition.lock()
                holding = true
                condition.broadcast()
                while !released { condition.wait() }
                condition.unlock()
            }
        }
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

@Suite("the log's write lock: bounded waits")
struct WriterLockTests {
    private func open(_ path: String, wait: Duration) throws -> EventLog {
        var options = EventLog.Options()
        options.waitLimit = wait
        return try EventLog(path: path, options: options)
    }

    private func measure(_ i: Int) throws -> Event {
        .measure(try StreamName(agent: "a", cli: "c"), invocation: InvocationID(rawValue: UInt64(i + 1)), durationNs: 1_000,
                 outcome: .ok, exitCode: 0, wallTimeNs: EventClock.wallNs(), pid: getpid())
    }

    @Test("an append that cannot get the lock within its wait throws busy and writes nothing; it works once the lock is free")
    func appendGivesUp() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path + "/log"
        let holderLog = try open(path, wait: .seconds(10))
        let log = try open(path, wait: .milliseconds(200))
        try log.append([try measure(0)])
        let holder = LockHolder(holderLog)
        let started = ContinuousClock.now
        let error = #expect(throws: PerfLogError.self) { try log.append([try measure(1)]) }
        print("append with a 200 ms wait gave up after \(ContinuousClock.now - started)")
        guard case .busy(_, let reason)? = error else { Issue.record("expected busy, got \(String(describing: error))"); return }
        // Both openings are in this process, which is what the pid at bytes 16..23 says.
        #expect(reason.contains("held by another operation of this process") && reason.contains("nothing was written"), "\(reason)")
        #expect(error?.isTemporary == true)
        // A wait given to the call overrides the log's.
        #expect(throws: PerfLogError.self) { try log.append([try measure(2)], waitingUpTo: .zero) }
        holder.release()
        try log.append([try measure(3)], waitingUpTo: .seconds(30))
        let count = try log.read { try $0.timeline(after: 0, limit: .max, StreamFilter()).count }
        #expect(count == 2)
    }

    @Test("the recorder keeps accepting while the log is held; the batch fails with busy, counted as lost, reported by flush")
    func recorderReportsBusy() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path + "/log"
        let holderLog = try open(path, wait: .seconds(10))
        let log = try open(path, wait: .milliseconds(200))
        let recorder = Recorder(log: log)
        let holder = LockHolder(holderLog)
        for i in 0..<50 { recorder.record(try measure(i)) }
        #expect(recorder.counters.recorded == 50)
        let error = #expect(throws: PerfLogError.self) { try recorder.flush() }
        guard case .busy? = error else { Issue.record("expected busy, got \(String(describing: error))"); return }
        #expect(recorder.counters.lost == 50)
        #expect(recorder.counters.failedCommits >= 1)
        holder.release()
        recorder.record(try measure(50))
        try recorder.flush()
        try recorder.close()
        #expect(recorder.counters.committed == 1)
    }

    @Test("a wait outside 0 ... 1 day is refused")
    func waitLimitRange() throws {
        let dir = try TemporaryDirectory()
        for wait in [Duration.seconds(-1), .seconds(86_401)] {
            #expect(throws: PerfLogError.self) { _ = try open(dir.path + "/log", wait: wait) }
        }
    }

    @Test("many threads of one process append through one opening: the lock serialises them, nothing is lost")
    func threadsShareTheLock() throws {
        let dir = try TemporaryDirectory()
        let log = try open(dir.path + "/log", wait: .seconds(60))
        DispatchQueue.concurrentPerform(iterations: 12) { t in
            for i in 0..<50 { _ = try? log.append([try measure(t * 1000 + i)]) }
        }
        #expect(try log.read { try $0.lastSeq() } == 600)
        #expect(try log.read { try $0.verify() }.isEmpty)
    }
}
