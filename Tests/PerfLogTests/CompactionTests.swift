import Foundation
@testable import PerfLog
import PerfLogTestSupport
import Testing

@Suite("Compaction", .serialized)
struct CompactionTests {
    func fill(_ log: EventLog, streams: Int, events: Int, seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        let names = try (0..<streams).map { try StreamName(agent: "a\($0)", cli: "c") }
        var i = 0
        while i < events {
            try log.append((0..<min(250, events - i)).map { j in
                .measure(names[Int(rng.next() % UInt64(streams))], invocation: InvocationID(rawValue: rng.next()),
                         durationNs: rng.next() % 1_000_000, outcome: .ok, wallTimeNs: Int64(i + j), pid: 1)
            })
            i += 250
        }
    }

    @Test("compaction shrinks the file and keeps every retained event")
    func shrinks() throws {
        let dir = try TemporaryDirectory()
        var options = EventLog.Options()
        options.retain = 20
        options.durability = .fast
        let log = try EventLog(path: dir.path + "/log", options: options)
        try fill(log, streams: 200, events: 100_000, seed: 1)
        let mark = Event.mark(try StreamName(agent: "a0", cli: "c"), invocation: .random(), wallTimeNs: 5, pid: 9)
        try log.append([mark])
        let before = try log.read { try $0.timeline() }
        let report = try log.compact()
        #expect(report.bytesAfter < report.bytesBefore)
        #expect(try log.read { try $0.timeline() } == before)
        #expect(try log.read { try $0.verify() } == [])
        // The compacted log is a log as any other: it takes new events and reopens.
        try fill(log, streams: 3, events: 250, seed: 2)
        #expect(try log.read { try $0.verify() } == [])
        let reopened = try EventLog(path: dir.path + "/log")
        #expect(try reopened.read { try $0.openMarks().map(\.invocation) } == [mark.invocation])
    }

    @Test("a new ring size keeps each stream's newest measures", arguments: [3, 40])
    func retainChange(newRetain: Int) throws {
        let dir = try TemporaryDirectory()
        var options = EventLog.Options()
        options.retain = 10
        let log = try EventLog(path: dir.path + "/log", options: options)
        try fill(log, streams: 5, events: 500, seed: 3)
        let rings = try log.read { r in try r.streams().map { try r.ring($0.stream) } }
        let report = try log.compact(retain: newRetain)
        #expect(report.retainBefore == 10 && report.retainAfter == newRetain)
        #expect(log.retain == newRetain)
        #expect(report.measuresTrimmed == rings.reduce(0) { $0 + max(0, $1.count - newRetain) })
        try log.read { (r: LogReader) throws in
            #expect(try r.verify() == [])
            for ring in rings {
                #expect(try r.ring(ring[0].stream) == Array(ring.suffix(newRetain)))
            }
        }
        #expect(try EventLog(path: dir.path + "/log").retain == newRetain)
        // Rings fill up to the new size and then evict.
        try fill(log, streams: 5, events: 1_000, seed: 4)
        try log.read { (r: LogReader) throws in
            #expect(try r.verify() == [])
            #expect(try r.streams().allSatisfy { $0.count == newRetain })
        }
    }

    @Test("compaction run 5 times while 4 processes record: every acknowledged event is kept")
    func whileOthersRecord() throws {
        let dir = try TemporaryDirectory()
        let logPath = dir.path + "/log"
        var options = EventLog.Options()
        options.retain = 1_000_000
        let log = try EventLog(path: logPath, options: options)
        var writers: [(Process, Pipe)] = []
        for i in 0..<4 {
            let out = Pipe()
            let p = try launchStress(
                ["--log", logPath, "--events", "100000000", "--streams", "3", "--agent-prefix", "w\(i)", "--batch", "20",
                 "--seed", "\(i + 1)", "--ack-ids"] + (i % 2 == 0 ? ["--recorder"] : []),
                stdout: out, stderr: FileHandle.nullDevice)
            try? out.fileHandleForWriting.close()
            writers.append((p, out))
        }
        var readers = writers.map { BlockingLineReader(fd: $0.1.fileHandleForReading.fileDescriptor) }
        var acked = Set<InvocationID>()
        func take(_ line: String) {
            let words = line.split(separator: " ")
            let ids = words.first == "ack" ? words.dropFirst(3) : words.first == "flushed" ? words.dropFirst(2) : []
            for w in ids { if let id = InvocationID(hex: String(w)) { acked.insert(id) } }
        }
        var compactions = 0
        for round in 0..<5 {
            // Let every writer get some acknowledged commits in before each compaction.
            for r in readers.indices {
                for _ in 0..<3 { if let line = readers[r].next() { take(line) } }
            }
            let report = try log.compact(waitingUpTo: .seconds(60))
            #expect(report.bytesAfter > 0, "round \(round)")
            compactions += 1
        }
        for (p, _) in writers { kill(p.processIdentifier, SIGKILL) }
        for r in readers.indices { while let line = readers[r].next() { take(line) } }
        for (p, _) in writers { p.waitUntilExit() }
        #expect(compactions == 5)
        let reopened = try EventLog(path: logPath)
        #expect(try reopened.read { try $0.verify() } == [])
        let stored = Set(try reopened.read { try $0.timeline() }.map(\.invocation))
        let missing = acked.subtracting(stored)
        #expect(acked.count > 100)
        let missingCount = missing.count
        #expect(missingCount == 0, "\(missingCount) of \(acked.count) acknowledged events are missing, e.g. \(missing.prefix(3))")
    }

    @Test("compaction while this process records on other threads: no deadlock, nothing lost")
    func whileThisProcessRecords() throws {
        let dir = try TemporaryDirectory()
        var options = EventLog.Options()
        options.retain = 1_000_000
        let log = try EventLog(path: dir.path + "/log", options: options)
        let recorder = Recorder(log: log)
        let stream = try StreamName(agent: "planner", cli: "claude")
        let recording = Thread {
            for i in 0..<20_000 { _ = try? recorder.record(stream, duration: .microseconds(i + 1)) }
        }
        recording.start()
        for _ in 0..<3 { _ = try log.compact(waitingUpTo: .seconds(60)) }
        eventually("every event is recorded") { recorder.counters.recorded == 20_000 }
        try recorder.close()
        #expect(recorder.counters.committed == 20_000)
        #expect(try log.read { try $0.summary(stream)?.count } == 20_000)
        #expect(try log.read { try $0.verify() } == [])
    }
}
