import Foundation
import LMDB
@testable import PerfLog
import PerfLogTestSupport
import Testing

@Suite("Renaming streams")
struct StreamRenameTests {
    @Test("a rename to a free name changes the name and nothing else")
    func renameToNewName() throws {
        let f = try StreamEditFixture()
        let id = try #require(try f.id(f.spaced))
        let eventsBefore = try f.storedEvents(), recordsBefore = try f.records()
        let ringBefore = try f.log.read { try $0.ring(f.spaced) }
        let to = try StreamName(agent: "scheduler", cli: "claude")

        let renamed = try f.log.renameStream(f.spaced, to: to)

        #expect(renamed == RenamedStream(from: f.spaced, to: to, merged: false, measures: 5, kept: 5, marksMoved: 2))
        #expect(try f.log.read { try $0.verify() } == [])
        #expect(try f.id(to) == id)
        #expect(try f.id(f.spaced) == nil)
        // Events name their stream by id: not one byte of the timeline changes.
        let eventsAfter = try f.storedEvents()
        #expect(eventsAfter.count == eventsBefore.count)
        for (seq, e) in eventsBefore { #expect(eventsAfter[seq]?.bytes == e.bytes, "event \(seq)") }
        #expect(try f.log.read { try $0.ring(to) }.map(\.seq) == ringBefore.map(\.seq))
        var before = try #require(try f.log.read { try $0.summary(to) })
        before.stream = f.spaced
        let stored = try #require(recordsBefore[f.spaced])
        #expect(try stored.withUnsafeBytes { try RingRecord.decodeSummary($0) } == before)
    }

    @Test("merging into an existing stream keeps the newest retain measures of the union, by wall time")
    func mergeIntoExisting() throws {
        let f = try StreamEditFixture()
        let source = try f.log.read { try $0.ring(f.spaced) }, target = try f.log.read { try $0.ring(f.planner) }
        let sourceSummary = try #require(try f.log.read { try $0.summary(f.spaced) })
        let targetSummary = try #require(try f.log.read { try $0.summary(f.planner) })
        let marks = try f.log.read { try $0.openMarks(StreamFilter(agent: " planner ", cli: "claude")) }
        let otherRecords = try f.records().filter { $0.key != f.spaced && $0.key != f.planner }
        let retain = StreamEditFixture.retain
        // What the merged window must be: a plain computation over the two windows.
        let newest = (source + target).sorted { ($0.wallTimeNs, $0.seq) < ($1.wallTimeNs, $1.seq) }.suffix(retain)
        #expect(source.count + target.count > retain)
        #expect(Set(newest.map(\.stream)).count == 2, "the union interleaves both streams")

        let renamed = try f.log.renameStreams(StreamFilter(agent: " planner ", cli: "claude"), toAgent: "Planner")

        #expect(renamed == [RenamedStream(from: f.spaced, to: f.planner, merged: true, measures: source.count + target.count,
                                          kept: retain, marksMoved: 2)])
        #expect(try f.log.read { try $0.verify() } == [])
        try f.log.read { (r: LogReader) throws in
            let ring = try r.ring(f.planner)
            #expect(Set(ring.map(\.seq)) == Set(newest.map(\.seq)))
            #expect(ring.map(\.seq) == ring.map(\.seq).sorted(), "the ring is in seq order, as every ring")
            #expect(ring.allSatisfy { $0.stream == f.planner })
            let kept = newest.map { e in var e = e; e.stream = f.planner; return e }
            #expect(ring == kept.sorted { $0.seq < $1.seq }, "the measures themselves are unchanged")
            #expect(try r.summary(f.spaced) == nil)
            let s = try #require(try r.summary(f.planner))
            #expect(s.count == retain)
            #expect(s.failures == newest.filter { $0.outcome == .failed }.count)
            #expect(s.okTotalNs == newest.filter { $0.outcome == .ok }.reduce(0) { $0 + $1.durationNs })
            #expect(s.inFlight == targetSummary.inFlight + sourceSummary.inFlight)
            #expect(s.lifetime.ok == sourceSummary.lifetime.ok + targetSummary.lifetime.ok)
            #expect(s.lifetime.failed == sourceSummary.lifetime.failed + targetSummary.lifetime.failed)
            #expect(s.lifetime.okSumNs == sourceSummary.lifetime.okSumNs + targetSummary.lifetime.okSumNs)
            #expect(s.lifetime.buckets == zip(sourceSummary.lifetime.buckets, targetSummary.lifetime.buckets).map { $0 + $1 })
            #expect(s.lifetime.startedNs == min(sourceSummary.lifetime.startedNs, targetSummary.lifetime.startedNs))
            let moved = try r.openMarks(StreamFilter(agent: "Planner", cli: "claude"))
            #expect(Set(marks.map(\.invocation)).isSubset(of: Set(moved.map(\.invocation))))
            #expect(moved.count == 3)
            // What stats prints: the projection's figures over the merged window.
            let okDurations = newest.filter { $0.outcome == .ok }.map { Double($0.durationNs) }
            let stats = try #require(try Projector.project(r, filter: StreamFilter(agent: "Planner"), now: 10_000).streams.first)
            #expect(stats.count == retain)
            #expect(stats.failures == s.failures)
            #expect(stats.inFlight == 3)
            #expect(stats.durations?.meanNs == okDurations.reduce(0, +) / Double(okDurations.count))
            #expect(stats.durations?.minNs == okDurations.min())
            #expect(stats.durations?.maxNs == okDurations.max())
            #expect(stats.firstAtNs == newest.first?.wallTimeNs)
            #expect(stats.lastAtNs == newest.last?.wallTimeNs)
        }
        #expect(try f.records().filter { $0.key != f.planner } == otherRecords)

        // The merged ring takes appends as any ring does: the lowest seq goes first.
        let lowest = try f.log.read { try $0.ring(f.planner) }.first?.seq
        try f.log.append([.measure(f.planner, invocation: .random(), durationNs: 1, outcome: .ok, wallTimeNs: 9_000, pid: 1)])
        #expect(try f.log.read { try $0.verify() } == [])
        let after = try f.log.read { try $0.ring(f.planner) }.map(\.seq)
        #expect(after.count == retain && !after.contains { $0 == lowest })
    }

    @Test("an agent's streams are each renamed, merged where the name is taken", arguments: [
        (nil as String?, [" planner /claude → Planner/claude merged", " planner /codex → Planner/codex"]),
        ("claude", [" planner /claude → Planner/claude merged", " planner /codex → Planner/claude merged"]),
    ])
    func renameAgent(toCLI: String?, expected: [String]) throws {
        let f = try StreamEditFixture()
        let lifetimeBefore = try f.log.read { try $0.streams().reduce(0) { $0 + $1.lifetime.total } }
        let renamed = try f.log.renameStreams(StreamFilter(agent: " planner "), toAgent: "Planner", cli: toCLI)
        #expect(renamed.map { "\($0.from) → \($0.to)\($0.merged ? " merged" : "")" } == expected)
        #expect(try f.log.read { try $0.verify() } == [])
        try f.log.read { (r: LogReader) throws in
            #expect(try r.streams(StreamFilter(agent: " planner ")).isEmpty)
            #expect(try r.streams().reduce(0) { $0 + $1.lifetime.total } == lifetimeBefore, "no count is lost or doubled")
        }
    }

    @Test("a rename of a name that is not in the log, or to itself, changes nothing")
    func nothingToRename() throws {
        let f = try StreamEditFixture()
        let before = try f.storedEvents().mapValues(\.bytes), seq = try f.log.read { try $0.lastSeq() }
        #expect(try f.log.renameStreams(StreamFilter(agent: "nobody"), toAgent: "somebody").isEmpty)
        #expect(try f.log.renameStream(f.coder, to: f.coder) == nil)
        #expect(try f.storedEvents().mapValues(\.bytes) == before)
        #expect(try f.log.read { try $0.lastSeq() } == seq)
    }

    @Test("new names are checked like any stream name", arguments: [
        ("", nil as String?, "agent"), ("ok", "", "cli"), ("tab\tbed", nil, "agent"), (String(repeating: "x", count: 129), nil, "agent"),
    ])
    func invalidNames(agent: String, cli: String?, field: String) throws {
        let f = try StreamEditFixture()
        do {
            try f.log.renameStreams(StreamFilter(agent: "coder"), toAgent: agent, cli: cli)
            Issue.record("accepted \(agent)/\(cli ?? "-")")
        } catch {
            guard case .invalidInput(let got, _) = error else { Issue.record("\(error)"); return }
            #expect(got == field)
        }
        #expect(try f.log.read { try $0.summary(f.coder) } != nil)
    }

    @Test("a handle that knew the old name makes it anew instead of writing into the renamed stream")
    func appendAfterRenameElsewhere() throws {
        let f = try StreamEditFixture()
        let other = try EventLog(path: f.log.path)
        try other.append([.measure(f.coder, invocation: .random(), durationNs: 1, outcome: .ok, wallTimeNs: 5_000, pid: 7)])
        let to = try StreamName(agent: "Coder", cli: "codex")
        let before = try f.log.read { try $0.ring(f.coder) }.map(\.seq)
        try f.log.renameStream(f.coder, to: to)
        try other.append([.measure(f.coder, invocation: .random(), durationNs: 2, outcome: .ok, wallTimeNs: 5_001, pid: 7)])
        try f.log.read { (r: LogReader) throws in
            #expect(try r.ring(to).map(\.seq) == before)
            #expect(try r.ring(f.coder).map(\.durationNs) == [2])
            #expect(try r.verify() == [])
        }
    }
}
