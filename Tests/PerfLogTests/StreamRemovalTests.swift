import Foundation
import LMDB
@testable import PerfLog
import PerfLogTestSupport
import Testing

@Suite("Forgetting streams")
struct StreamRemovalTests {
    @Test("forget removes one stream entirely and leaves every other byte as it was")
    func forgetOne() throws {
        let f = try StreamEditFixture()
        #expect(try f.garbage() > 0, "the fixture should hold evicted measures not yet collected")
        let id = try #require(try f.id(f.spaced))
        let recordsBefore = try f.records(), eventsBefore = try f.storedEvents()
        let seqBefore = try f.log.read { try $0.lastSeq() }

        let forgotten = try f.log.forget([f.spaced])

        #expect(forgotten.map(\.stream) == [f.spaced])
        #expect(forgotten.first?.measures == StreamEditFixture.retain)
        #expect(forgotten.first?.inFlight == 2)
        #expect(forgotten.first?.lifetime.total == 7)
        #expect(try f.log.read { try $0.verify() } == [])
        var recordsAfter = try f.records(), eventsAfter = try f.storedEvents()
        #expect(recordsAfter[f.spaced] == nil)
        #expect(try f.id(f.spaced) == nil)
        #expect(!eventsAfter.values.contains { $0.stream == id }, "no event of the stream is left")
        recordsAfter[f.spaced] = recordsBefore[f.spaced]
        #expect(recordsAfter == recordsBefore)
        let others = eventsBefore.filter { $0.value.stream != id }
        #expect(eventsAfter.count == others.count)
        for (seq, e) in others { #expect(eventsAfter[seq]?.bytes == e.bytes, "event \(seq)") }
        #expect(try f.garbage() == UInt64(others.count - retainedAndOpen(f)), "the garbage count matches what is left")
        // A commit of its own: whatever keys on the last seq (projections) sees the change.
        #expect(try f.log.read { try $0.lastSeq() } == seqBefore + 1)
        #expect(try f.log.read { try $0.openMarks().map(\.stream) } == [f.planner, f.coder])
    }

    /// The events the log's rings and open marks account for.
    private func retainedAndOpen(_ f: StreamEditFixture) throws -> Int {
        try f.log.read { r in try r.streams().reduce(0) { $0 + $1.count + $1.inFlight } }
    }

    @Test("forget by agent removes each of its streams; other agents keep theirs", arguments: [
        (StreamFilter(agent: " planner "), [" planner /claude", " planner /codex"]),
        (StreamFilter(agent: " planner ", cli: "codex"), [" planner /codex"]),
        (StreamFilter(cli: "codex"), [" planner /codex", "coder/codex"]),
        (StreamFilter(agent: "nobody"), []),
    ])
    func forgetByFilter(filter: StreamFilter, expected: [String]) throws {
        let f = try StreamEditFixture()
        let before = try f.log.read { try $0.streams().map(\.stream) }
        let forgotten = try f.log.forget(filter)
        #expect(forgotten.map(\.stream.description) == expected)
        #expect(try f.log.read { try $0.verify() } == [])
        #expect(try f.log.read { try $0.streams().map(\.stream) } == before.filter { !expected.contains($0.description) })
    }

    @Test("an empty filter is refused: it would forget every stream")
    func emptyFilter() throws {
        let f = try StreamEditFixture()
        #expect(throws: PerfLogError.invalidInput(field: "streams", rule: "name the agent or the CLI whose streams to forget")) {
            try f.log.forget(StreamFilter())
        }
        #expect(try f.log.read { try $0.streams().count } == 5)
    }

    @Test("a stream forgotten by another log handle is made anew by the next append, with new counters")
    func appendAfterForgetElsewhere() throws {
        let f = try StreamEditFixture()
        // This handle knows the stream's id from appending to it.
        let other = try EventLog(path: f.log.path)
        try other.append([.measure(f.coder, invocation: .random(), durationNs: 1, outcome: .ok, wallTimeNs: 5_000, pid: 7)])
        let oldID = try #require(try f.id(f.coder))
        try f.log.forget([f.coder])
        try other.append([.measure(f.coder, invocation: .random(), durationNs: 2, outcome: .ok, wallTimeNs: 5_001, pid: 7)])
        let newID = try #require(try f.id(f.coder))
        #expect(newID != oldID)
        #expect(try f.log.read { try $0.ring(f.coder).map(\.durationNs) } == [2])
        #expect(try f.log.read { try $0.summary(f.coder)?.lifetime.total } == 1)
        #expect(try f.log.read { try $0.verify() } == [])
    }
}
