@testable import PerfLog
import PerfLogTestSupport
import Testing

@Suite("Projection time range")
struct TimeRangeTests {
    /// The middle third of a scenario's timeline, and its edges.
    static func ranges(_ sc: ProjectionScenario) -> [TimeRange] {
        let walls = sc.streams.flatMap { sc.model.ring($0) }.map(\.wallTimeNs) + sc.model.open.values.map(\.wallTimeNs)
        guard let lo = walls.min(), let hi = walls.max() else { return [TimeRange()] }
        let third = (hi - lo) / 3
        return [TimeRange(since: lo + third), TimeRange(until: hi - third), TimeRange(since: lo + third, until: hi - third),
                TimeRange(since: hi + 1), TimeRange(since: lo, until: lo + 1)]
    }

    @Test("only measures and open marks in the range count; streams with none are left out; both reading paths agree",
          arguments: Array(UInt64(1)...8))
    func projection(seed: UInt64) throws {
        let sc = try ProjectionScenario(seed: seed)
        for range in Self.ranges(sc) {
            var options = Projector.Options()
            options.timeRange = range
            try sc.log.read { r in
                let p = try Projector.project(r, now: sc.now, options: options)
                var expectedStreams: [StreamName] = []
                for s in sc.streams {
                    let window = sc.model.ring(s).filter { range.contains($0.wallTimeNs) }
                    let marks = sc.model.open.values.filter { $0.stream == s && range.contains($0.wallTimeNs) }
                    guard !window.isEmpty || !marks.isEmpty else { continue }
                    expectedStreams.append(s)
                    let st = try #require(p.streams.first { $0.stream == s })
                    #expect(st.count == window.count && st.inFlight == marks.count, "\(s) in \(range)")
                    #expect(st.failures == window.filter { $0.outcome == .failed }.count)
                    #expect(st.durations?.count == window.filter { $0.outcome == .ok }.count
                            || (st.durations == nil && window.allSatisfy { $0.outcome == .failed }))
                    #expect(st.firstAtNs == window.map(\.wallTimeNs).min() && st.lastAtNs == window.map(\.wallTimeNs).max())
                    #expect(try Projector.statistics(r, stream: s, now: sc.now, timeRange: range) == st)
                }
                #expect(p.streams.map(\.stream) == expectedStreams, "\(range)")
                #expect(p.measurements.allSatisfy { range.contains($0.wallTimeNs) })
                #expect(p.measurements.count == p.streams.reduce(0) { $0 + $1.count })
                // The measurements still point at their streams after some were left out.
                for m in p.measurements {
                    #expect(m.streamIndex >= 0 && p.streams[Int(m.streamIndex)].stream == m.stream)
                }
                for agent in Set(p.streams.map(\.stream.agent)) {
                    let part = try Projector.project(r, filter: StreamFilter(agent: agent), now: sc.now, options: options)
                    #expect(part.streams == p.streams.filter { $0.stream.agent == agent })
                    #expect(part.measurements == p.measurements.filter { $0.stream.agent == agent })
                }
            }
        }
    }

    @Test("since is inclusive, until exclusive", arguments: [
        (TimeRange(since: 10), 9, false), (TimeRange(since: 10), 10, true), (TimeRange(until: 10), 10, false),
        (TimeRange(until: 10), 9, true), (TimeRange(since: 5, until: 10), 7, true), (TimeRange(), Int64.min, true),
    ] as [(TimeRange, Int64, Bool)])
    func bounds(range: TimeRange, at: Int64, kept: Bool) {
        #expect(range.contains(at) == kept)
    }
}
