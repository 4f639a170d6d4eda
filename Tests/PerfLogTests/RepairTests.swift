import Foundation
import LMDB
@testable import PerfLog
import PerfLogTestSupport
import Testing

@Suite("Repair")
struct RepairTests {
    /// A log with two streams, a few evictions and one open mark.
    func makeLog(_ dir: TemporaryDirectory) throws -> (EventLog, StreamName, StreamName, Event) {
        var options = EventLog.Options()
        options.retain = 5
        let log = try EventLog(path: dir.path + "/log", options: options)
        let a = try StreamName(agent: "planner", cli: "claude"), b = try StreamName(agent: "coder", cli: "codex")
        for i in 0..<8 {
            try log.append([
                .measure(a, invocation: .random(), durationNs: UInt64(1_000 + i), outcome: i == 3 ? .failed : .ok, wallTimeNs: Int64(i), pid: 1),
                .measure(b, invocation: .random(), durationNs: UInt64(2_000 + i), outcome: .ok, wallTimeNs: Int64(i), pid: 1),
            ])
        }
        let mark = Event.mark(a, invocation: .random(), wallTimeNs: 1_000, pid: 2)
        try log.append([mark])
        return (log, a, b, mark)
    }

    @Test("repairing a sound log keeps every retained event")
    func soundLog() throws {
        let dir = try TemporaryDirectory()
        let (log, _, _, _) = try makeLog(dir)
        let before = try log.read { try $0.timeline() }
        let report = try log.repair()
        #expect(report.streamsRebuilt == 0 && report.undecodableRemoved == 0 && report.missingMeasures == 0)
        #expect(report.marksExpired == 0)
        #expect(try log.read { try $0.timeline() } == before)
        #expect(try log.read { try $0.verify() } == [])
    }

    @Test("repair rebuilds summaries and indexes, drops what does not decode and what is missing")
    func damagedLog() throws {
        let dir = try TemporaryDirectory()
        let (log, a, b, mark) = try makeLog(dir)
        let ringA = try log.read { try $0.ring(a) }
        let ringB = try log.read { try $0.ring(b) }
        let dbs = log.dbs
        try log.environment.write { txn in
            // A summary that lies about its counts.
            let reader = LogReader(txn: txn, log: log)
            let idA = try #require(try reader.streamID(a))
            var ring = try reader.ring(id: idA)
            ring.summary.failures = 0
            ring.summary.okTotalNs += 5
            try log.put(ring, id: idA, txn: txn, dbs: dbs)
            // A measure of b's ring that is gone.
            try Keys.with(ringB[1].seq) { k in _ = try txn.delete(dbs.events, key: k) }
            // Bytes that are not an event.
            try Keys.with(UInt64(900)) { k in try [UInt8](repeating: 0xEE, count: 12).withUnsafeBytes { v in try txn.put(dbs.events, key: k, value: v) } }
            // The open-mark index and the name index lose entries.
            try Keys.with(mark.invocation.rawValue) { k in _ = try txn.delete(dbs.open, key: k) }
            _ = try txn.delete(dbs.names, key: Keys.name(b))
        }
        #expect(try log.read { try $0.verify() }.count >= 4)

        let report = try log.repair()
        #expect(report.streamsRebuilt == 2)
        #expect(report.missingMeasures == 1)
        #expect(report.undecodableRemoved == 1)
        #expect(report.indexEntriesFixed == 2)
        #expect(try log.read { try $0.verify() } == [])
        try log.read { (r: LogReader) throws in
            #expect(try r.ring(a) == ringA)
            #expect(try r.ring(b) == ringB.enumerated().filter { $0.offset != 1 }.map(\.element))
            #expect(try r.summary(a)?.failures == ringA.filter { $0.outcome == .failed }.count)
            #expect(try r.openMarks().map(\.invocation) == [mark.invocation])
        }
        // The repaired log takes new events as usual.
        try log.append([.measure(b, invocation: .random(), durationNs: 1, outcome: .ok, wallTimeNs: 99, pid: 1)])
        #expect(try log.read { try $0.verify() } == [])
    }

    @Test("abandoned marks are expired, by repair and on their own")
    func abandonedMarks() throws {
        let dir = try TemporaryDirectory()
        let (log, a, _, old) = try makeLog(dir)
        let fresh = Event.mark(a, invocation: .random(), wallTimeNs: 5_000, pid: 3)
        try log.append([fresh])
        #expect(try log.expireAbandonedMarks(olderThan: 2_000) == 1)
        try log.read { (r: LogReader) throws in
            #expect(try r.openMarks().map(\.invocation) == [fresh.invocation])
            #expect(try r.summary(a)?.inFlight == 1)
            #expect(try r.verify() == [])
        }
        #expect(old.invocation != fresh.invocation)
        let report = try log.repair(expiringMarksOlderThan: 10_000)
        #expect(report.marksExpired == 1)
        #expect(try log.read { try $0.openMarks() }.isEmpty)
        #expect(try log.read { try $0.verify() } == [])
    }
}
