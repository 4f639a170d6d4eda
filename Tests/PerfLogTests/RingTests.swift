import Foundation
@testable import PerfLog
import PerfLogTestSupport
import Testing

/// What the log must hold, computed the obvious way.
struct LogModel {
    let retain: Int
    var measures: [StreamName: [Event]] = [:]
    var open: [InvocationID: Event] = [:]

    mutating func apply(_ e: Event) {
        switch e.kind {
        case .mark:
            open[e.invocation] = e
        case .measure:
            if let m = open[e.invocation], m.stream == e.stream { open[e.invocation] = nil }
            measures[e.stream, default: []].append(e)
        }
    }

    func ring(_ s: StreamName) -> [Event] { Array((measures[s] ?? []).suffix(retain)) }

    var timeline: [Event] {
        (measures.keys.flatMap { ring($0) } + open.values).sorted { $0.seq < $1.seq }
    }
}

@Suite("Ring retention")
struct RingTests {
    @Test("rings hold exactly the newest measures; the timeline exactly the retained events and open marks",
          arguments: [1, 2, 3, 4, 5, 6, 7, 8] as [UInt64])
    func property(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        let retain = Int.random(in: 1...12, using: &rng)
        let dir = try TemporaryDirectory()
        var options = EventLog.Options()
        options.retain = retain
        let log = try EventLog(path: dir.path + "/log", options: options)
        var model = LogModel(retain: retain)
        let streams = try (0..<Int.random(in: 1...40, using: &rng)).map {
            try StreamName(agent: "agent-\($0 % 7)", cli: "cli-\($0 / 7)")
        }
        var pending: [(StreamName, InvocationID)] = []
        var seq: UInt64 = 0

        for _ in 0..<Int.random(in: 20...80, using: &rng) {
            var batch: [Event] = []
            for _ in 0..<Int.random(in: 1...30, using: &rng) {
                let roll = Int.random(in: 0..<10, using: &rng)
                if roll < 3 {
                    let s = streams.randomElement(using: &rng)!
                    let inv = InvocationID(rawValue: rng.next())
                    pending.append((s, inv))
                    batch.append(.mark(s, invocation: inv, wallTimeNs: Int64(seq), pid: 1))
                } else if roll < 6, !pending.isEmpty {
                    let (s, inv) = pending.remove(at: Int.random(in: 0..<pending.count, using: &rng))
                    batch.append(.measure(s, invocation: inv, durationNs: rng.next() % 1_000_000_000,
                                          outcome: roll == 5 ? .failed : .ok, exitCode: roll == 5 ? 3 : nil,
                                          wallTimeNs: Int64(seq), pid: 2))
                } else {
                    let s = streams.randomElement(using: &rng)!
                    batch.append(.measure(s, invocation: InvocationID(rawValue: rng.next()),
                                          durationNs: rng.next() % 5_000_000, outcome: .ok, wallTimeNs: Int64(seq),
                                          pid: 3, meta: roll == 9 ? ["model": "opus"] : [:]))
                }
            }
            let first = try log.append(batch)
            #expect(first == seq + 1)
            for var e in batch {
                seq += 1
                e.seq = seq
                model.apply(e)
            }
        }

        try log.read { r in
            #expect(try r.verify() == [])
            #expect(try r.lastSeq() == seq)
            for s in streams {
                let ring = try r.ring(s)
                let expected = model.ring(s)
                #expect(ring == expected, "ring of \(s)")
                #expect(ring.count == min(retain, model.measures[s]?.count ?? 0))
                if let summary = try r.summary(s) {
                    #expect(summary.count == expected.count)
                    #expect(summary.failures == expected.filter { $0.outcome == .failed }.count)
                    #expect(summary.okTotalNs == expected.filter { $0.outcome == .ok }.reduce(0) { $0 + $1.durationNs })
                    #expect(summary.inFlight == model.open.values.filter { $0.stream == s }.count)
                }
            }
            let timeline = try r.timeline()
            #expect(timeline == model.timeline)
            #expect(try r.openMarks() == model.open.values.sorted { $0.seq < $1.seq })
            let n = Int.random(in: 1...20, using: &rng)
            #expect(try r.tail(n) == Array(model.timeline.suffix(n)))
            let someAgent = streams[0].agent
            #expect(try r.tail(n, StreamFilter(agent: someAgent)) == Array(model.timeline.filter { $0.stream.agent == someAgent }.suffix(n)))
            let mid = seq / 2
            #expect(try r.timeline(after: mid) == model.timeline.filter { $0.seq > mid })
        }
    }

    @Test("the ring size is stored in the log and kept when reopened with another")
    func retainIsStored() throws {
        let dir = try TemporaryDirectory()
        var options = EventLog.Options()
        options.retain = 3
        _ = try EventLog(path: dir.path, options: options)
        options.retain = 50
        let reopened = try EventLog(path: dir.path, options: options)
        #expect(reopened.retain == 3)
    }

    @Test("an O(1) summary gives count and mean")
    func summaryMean() throws {
        let dir = try TemporaryDirectory()
        let log = try EventLog(path: dir.path)
        let s = try StreamName(agent: "planner", cli: "claude")
        try log.append([100, 200, 600].map {
            .measure(s, invocation: .random(), durationNs: $0, outcome: .ok, wallTimeNs: 0, pid: 1)
        } + [.measure(s, invocation: .random(), durationNs: 1, outcome: .failed, exitCode: 2, wallTimeNs: 0, pid: 1)])
        let summary = try log.read { try $0.summary(s) }
        #expect(summary?.count == 4)
        #expect(summary?.failures == 1)
        #expect(summary?.meanNs == 300)
    }
}

@Suite("Collection of evicted measures")
struct CollectionTests {
    /// How many events the log stores, evicted ones awaiting collection included.
    func stored(_ log: EventLog) throws -> Int {
        try log.environment.read { txn in try txn.statistics(log.dbs.events).entries }
    }

    @Test("a quiet stream's old measure does not hold back collection, and is deleted once evicted")
    func quietStream() throws {
        let dir = try TemporaryDirectory()
        var options = EventLog.Options()
        options.retain = 2
        let log = try EventLog(path: dir.path, options: options)
        let quiet = try StreamName(agent: "quiet", cli: "c")
        let busy = try StreamName(agent: "busy", cli: "c")
        func measure(_ s: StreamName) -> Event {
            .measure(s, invocation: .random(), durationNs: 5, outcome: .ok, wallTimeNs: 0, pid: 1)
        }
        try log.append([measure(quiet)])
        for _ in 0..<100 { try log.append((0..<50).map { _ in measure(busy) }) }
        // The quiet stream's measure is the oldest event; collection had to step over it.
        let garbageBound = AppendBatch.minimumToleratedGarbage + 50 * 3
        #expect(try stored(log) <= 3 + garbageBound)
        try log.read { (r: LogReader) throws in
            #expect(try r.verify() == [])
            #expect(try r.ring(quiet).count == 1)
        }
        // Now evict it: it sits below the collection mark, so it is deleted at once.
        try log.append([measure(quiet), measure(quiet)])
        try log.read { (r: LogReader) throws in
            #expect(try r.verify() == [])
            #expect(try r.ring(quiet).map(\.seq) == [5002, 5003])
            #expect(try r.timeline().count == 4)
        }
        #expect(try stored(log) <= 4 + garbageBound)
    }

    @Test("garbage stays bounded under uniform load")
    func bounded() throws {
        let dir = try TemporaryDirectory()
        var options = EventLog.Options()
        options.retain = 5
        let log = try EventLog(path: dir.path, options: options)
        let streams = try (0..<20).map { try StreamName(agent: "a\($0)", cli: "c") }
        var rng = SplitMix64(seed: 3)
        for _ in 0..<200 {
            try log.append((0..<40).map { _ in
                .measure(streams.randomElement(using: &rng)!, invocation: .random(), durationNs: 1, outcome: .ok, wallTimeNs: 0, pid: 1)
            })
        }
        #expect(try log.read { try $0.verify() } == [])
        #expect(try stored(log) <= 100 + AppendBatch.minimumToleratedGarbage + 2 * 40 + 64)
    }
}
