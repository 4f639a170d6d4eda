import Foundation
@testable import PerfLog
import PerfLogTestSupport
import Testing

@Suite("Lifetime counters")
struct LifetimeCounterTests {
    let stream = try! StreamName(agent: "planner", cli: "claude")

    /// `n` measures of `stream`, every fourth failed, durations 1 ms, 2 ms, … so that
    /// they fall in known buckets.
    func measures(_ n: Int, from first: Int = 0) -> [Event] {
        (first..<(first + n)).map { (i: Int) -> Event in
            let outcome: Outcome = i % 4 == 3 ? .failed : .ok
            let durationNs = UInt64(i + 1) * 1_000_000
            return Event.measure(stream, invocation: InvocationID(rawValue: UInt64(1000 + i)), durationNs: durationNs,
                                 outcome: outcome, wallTimeNs: Int64(i) * 1_000_000_000, pid: 1)
        }
    }

    /// The counters `events` make from nothing, over `bounds`.
    func expected(_ events: [Event], bounds: BucketBounds = .standard) -> LifetimeCounters {
        var c = LifetimeCounters(startedNs: 0, bucketCount: bounds.bucketCount)
        for e in events { c.add(durationNs: e.durationNs, failed: e.outcome == .failed, bounds: bounds) }
        return c
    }

    func lifetime(_ log: EventLog) throws -> LifetimeCounters {
        let summary = try log.read { try $0.summary(stream) }
        return try #require(summary).lifetime
    }

    func counts(_ c: LifetimeCounters) -> [UInt64] { [c.ok, c.failed, c.okSumNs] + c.buckets }

    @Test("they count every measure, not only the window's, in the log's buckets, and a reopening keeps them")
    func countBeyondTheWindow() throws {
        let dir = try TemporaryDirectory()
        var options = EventLog.Options()
        options.retain = 3
        options.bucketBounds = try BucketBounds(nanoseconds: [2_000_000, 5_000_000, 10_000_000])
        let before = EventClock.wallNs()
        let log = try EventLog(path: dir.path + "/log", options: options)
        let events = measures(12)
        for batch in stride(from: 0, to: events.count, by: 5) { try log.append(Array(events[batch..<min(batch + 5, events.count)])) }
        let c = try lifetime(log)
        #expect(c.ok == 9 && c.failed == 3)
        // ok durations: 1 2 3 5 6 7 9 10 11 ms over bounds 2, 5, 10 ms and +Inf.
        #expect(c.buckets == [2, 2, 4, 1])
        #expect(c.cumulativeBuckets == [2, 4, 8, 9])
        #expect(c.okSumNs == 54_000_000)
        #expect(c.startedNs >= before && c.startedNs <= EventClock.wallNs())
        let window = try #require(try log.read { try $0.summary(stream) })
        #expect(window.count == 3)

        let reopened = try EventLog(path: dir.path + "/log")
        #expect(try lifetime(reopened) == c)
        #expect(try reopened.read { try $0.bucketBounds() } == options.bucketBounds)
        #expect(try reopened.read { try $0.verify() } == [])
    }

    @Test("compaction, a new ring size and repair keep them, start time included; an import adds to them",
          arguments: ["compact", "compact --retain 2", "compact --retain 50", "repair"])
    func maintenanceKeepsThem(operation: String) throws {
        let dir = try TemporaryDirectory()
        var options = EventLog.Options()
        options.retain = 5
        let log = try EventLog(path: dir.path + "/log", options: options)
        let first = measures(30)
        try log.append(first)
        let before = try lifetime(log)
        #expect(counts(before) == counts(expected(first)))
        switch operation {
        case "compact": _ = try log.compact()
        case "compact --retain 2": _ = try log.compact(retain: 2)
        case "compact --retain 50": _ = try log.compact(retain: 50)
        default: _ = try log.repair()
        }
        #expect(try lifetime(log) == before, "\(operation)")
        #expect(try log.read { try $0.verify() } == [])

        // An import adds what it adds: of 7 newer measures, those its window keeps
        // (measures that would fall out at once are not added, so that importing a
        // file twice changes nothing).
        let more = measures(7, from: 30)
        let added = Array(more.suffix(log.retain))
        let imported = try log.importEvents(more)
        #expect(imported.added == added.count)
        let after = try lifetime(log)
        #expect(counts(after) == counts(expected(first + added)))
        _ = try log.importEvents(more)
        #expect(try lifetime(log) == after, "a second import of the same measures adds nothing")
        #expect(after.startedNs == before.startedNs)
    }

    @Test("the stream record keeps the histogram's empty buckets out and reads them back",
          arguments: [[UInt64](repeating: 0, count: 19), [7] + [UInt64](repeating: 0, count: 18),
                      [UInt64](repeating: 0, count: 18) + [9], (0..<19).map { UInt64($0 * 300) }, [0, 3, 0, 0, 5] + [UInt64](repeating: 0, count: 14)])
    func recordRoundTrip(buckets: [UInt64]) throws {
        var ring = Ring(stream: stream)
        for seq in [10, 12, 15] as [UInt64] { _ = ring.push(seq, retain: 5) }
        ring.summary.count = 3
        ring.summary.lastSeq = 15
        ring.summary.lifetime = LifetimeCounters(ok: buckets.reduce(0, +), failed: 2, okSumNs: 123_456_789, buckets: buckets,
                                                 startedNs: 1_796_000_000_123_456_789)
        let bytes = RingRecord.encode(ring)
        let back = try RingRecord.decode(bytes, retain: 5)
        #expect(back.summary == ring.summary && back.slots == ring.slots)
        let length = try bytes.withUnsafeBytes { try RingRecord.summaryLength($0) }
        // What follows the summary is the ring: its slot count first.
        #expect(bytes[length] == 3)
    }
}
