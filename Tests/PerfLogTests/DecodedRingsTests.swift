@testable import PerfLog
import PerfLogTestSupport
import Testing

/// A long-lived writer keeps the rings it decoded or wrote, and uses one only while the
/// stored record is what it was made from: whatever else changed the record meanwhile
/// (another writer, a compaction to another `retain`, a rename), the next commit reads
/// the stored record, and the ring stays exact.
@Suite("a writer's decoded rings")
struct DecodedRingsTests {
    /// What changes a stream's record behind the recorder's back between its commits.
    enum Change: String, CaseIterable, CustomTestStringConvertible {
        case anotherWriter, compactionToSmallerRetain, compactionKeepingRetain, renameIntoIt, noChange
        var testDescription: String { rawValue }
    }

    @Test(arguments: Change.allCases)
    func ringsStayExact(_ change: Change) throws {
        let dir = try TemporaryDirectory()
        var options = EventLog.Options()
        options.retain = 5
        let path = dir.path + "/log"
        let log = try EventLog(path: path, options: options)
        let recorder = Recorder(log: log)
        let stream = try StreamName(agent: "planner", cli: "claude")
        var expected: [UInt64] = []
        func record(_ ms: UInt64, through r: Recorder) throws {
            try r.record(stream, duration: .milliseconds(Int64(ms)))
            expected.append(ms * 1_000_000)
        }
        for ms in UInt64(1)...4 { try record(ms, through: recorder) }
        try recorder.flush()

        // Another process: its own log object, its own commits.
        let other = try EventLog(path: path, options: { var o = EventLog.Options(); o.create = false; return o }())
        var retain = 5
        switch change {
        case .anotherWriter:
            for ms in UInt64(10)...12 {
                try other.append([Event.measure(stream, invocation: .random(), durationNs: ms * 1_000_000, outcome: .ok, wallTimeNs: EventClock.wallNs(), pid: 1)])
                expected.append(ms * 1_000_000)
            }
        case .compactionToSmallerRetain:
            _ = try other.compact(retain: 3)
            retain = 3
        case .compactionKeepingRetain:
            _ = try other.compact()
        case .renameIntoIt:
            let source = try StreamName(agent: "planner-old", cli: "claude")
            try other.append([Event.measure(source, invocation: .random(), durationNs: 99_000_000, outcome: .ok, wallTimeNs: EventClock.wallNs(), pid: 1)])
            _ = try other.renameStream(source, to: stream)
            expected.append(99_000_000)
        case .noChange:
            break
        }
        for ms in UInt64(20)...22 { try record(ms, through: recorder) }
        try recorder.close()

        let reopened = try EventLog(path: path, options: { var o = EventLog.Options(); o.create = false; return o }())
        let (ring, summary) = try reopened.read { r in (try r.ring(stream), try r.summary(stream)) }
        #expect(ring.map(\.durationNs) == Array(expected.suffix(retain)), "\(change)")
        // (`appended` counts from the compaction that set a new retain; the lifetime
        // counters from the start.)
        #expect(summary?.lifetime.ok == UInt64(expected.count))
        #expect(summary?.okTotalNs == expected.suffix(retain).reduce(0, +))
        let problems = try reopened.read { try $0.verify() }
        #expect(problems.isEmpty, "\(problems)")
    }
}
