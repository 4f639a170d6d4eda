/// Builds ``Projection``s from a log and writes `agent-performance.json`.
public enum Projector {
    /// What a projection includes and how it judges open marks.
    public struct Options: Sendable, Hashable {
        /// An open mark older than this (before `now`) counts as abandoned. Default: one
        /// hour.
        public var abandonAfter: Duration = Statistics.defaultAbandonAfter
        /// Whether to list every retained measure (``Projection/measurements``).
        public var measurements: Bool = true
        /// Which measures and open marks count, by their wall-clock time (a measure's end,
        /// a mark's start). With a bounded range a stream none of whose retained measures
        /// or open marks falls in it is left out of the projection. Default: every time.
        public var timeRange = TimeRange()

        /// The defaults: abandoned after one hour, measurements listed.
        public init() {}
    }

    /// Projects the streams `filter` keeps.
    ///
    /// With an empty filter the whole log is read in one sequential pass over its
    /// timeline; otherwise only the kept streams' rings and the open marks are read.
    /// - Parameter now: the time to judge abandoned marks against, nanoseconds since the
    ///   Unix epoch (usually ``EventClock/wallNs()``).
    /// - Throws: ``PerfLogError`` when the log cannot be read or is damaged.
    public static func project(
        _ reader: LogReader, filter: StreamFilter = StreamFilter(), now: Int64, options: Options = Options()
    ) throws(PerfLogError) -> Projection {
        var p = try reader.typed {
            filter.isEmpty ? try scanAll(reader, now: now, options: options)
                           : try readRings(reader, filter: filter, now: now, options: options)
        }
        p.comparisons = comparisons(p.streams)
        p.bucketBounds = try reader.bucketBounds()
        return p
    }

    /// The statistics of one stream, reading only its ring and the open marks; `nil`
    /// when the log holds nothing of it.
    /// - Parameters:
    ///   - now: as in ``project(_:filter:now:options:)``.
    ///   - abandonAfter: how old an open mark must be, strictly, to count as abandoned.
    ///   - timeRange: which measures and marks count (see ``Options/timeRange``); `nil`
    ///     is returned when none of the stream's does.
    /// - Throws: ``PerfLogError`` when the log cannot be read or is damaged.
    public static func statistics(
        _ reader: LogReader, stream: StreamName, now: Int64, abandonAfter: Duration = Statistics.defaultAbandonAfter,
        timeRange: TimeRange = TimeRange()
    ) throws(PerfLogError) -> StreamStatistics? {
        guard let summary = try reader.summary(stream) else { return nil }
        var marks = try reader.openMarks(StreamFilter(agent: stream.agent, cli: stream.cli))
        var window = try reader.ring(stream)
        if !timeRange.isUnbounded {
            window.removeAll { !timeRange.contains($0.wallTimeNs) }
            marks.removeAll { !timeRange.contains($0.wallTimeNs) }
            if window.isEmpty && marks.isEmpty { return nil }
        }
        var statistics = StreamStatistics(stream: stream, window: window, openMarks: marks, now: now,
                                          abandonAfter: abandonAfter)
        statistics.lifetime = summary.lifetime
        return statistics
    }

    // MARK: Reading

    /// Per-stream accumulation during the sequential pass.
    private struct Accumulator {
        var oldest: UInt64
        var expected: Int
        var ok: [UInt64] = []
        /// Retained measures read, in the time range or not: what the ring must agree with.
        var retained = 0
        var count = 0, failures = 0, inFlight = 0, abandoned = 0
        var first = Int64.max, last = Int64.min
    }

    /// A measure found by the pass, with its stream as an index into the sorted streams.
    private struct Row {
        var wall: Int64
        var seq: UInt64
        var duration: UInt64
        var stream: Int32
        var failed: Bool
    }

    /// The whole log in one pass over `events`, in `seq` order.
    private static func scanAll(_ reader: LogReader, now: Int64, options: Options) throws -> Projection {
        let retain = reader.retain
        let rings = try reader.ringsByID().sorted { $0.ring.summary.stream < $1.ring.summary.stream }
        let maxID = Int(rings.map(\.id).max() ?? 0)
        // Stream ids are small and dense: an array finds a stream's slot without hashing.
        var slotOf = [Int32](repeating: -1, count: maxID + 1)
        var acc: [Accumulator] = []
        acc.reserveCapacity(rings.count)
        var total = 0
        for (slot, (id, ring)) in rings.enumerated() {
            slotOf[Int(id)] = Int32(slot)
            var a = Accumulator(oldest: ring.oldest(retain: retain) ?? .max, expected: ring.summary.count)
            a.ok.reserveCapacity(ring.summary.okCount)
            acc.append(a)
            total += ring.summary.count
        }
        let cutoff = Statistics.abandonmentCutoff(now: now, abandonAfter: options.abandonAfter)
        let range = options.timeRange
        var rows: [Row] = []
        if options.measurements { rows.reserveCapacity(total) }
        var newestWall: Int64 = 0
        try reader.scanEvents { seq, id, record in
            guard Int(id) <= maxID, case let slot = Int(slotOf[Int(id)]), slot >= 0 else {
                throw PerfLogError.corrupt(what: "event \(seq) belongs to no stream")
            }
            let head = try EventRecord.decodeHead(record)
            guard head.seq == seq else { throw PerfLogError.corrupt(what: "event \(seq) records seq \(head.seq)") }
            if head.isMeasure {
                // An evicted measure not yet collected: not part of any window.
                guard seq >= acc[slot].oldest else { return }
                acc[slot].retained += 1
                guard range.contains(head.wallTimeNs) else { return }
                acc[slot].count += 1
                if head.failed { acc[slot].failures += 1 } else { acc[slot].ok.append(head.durationNs) }
                if head.wallTimeNs < acc[slot].first { acc[slot].first = head.wallTimeNs }
                if head.wallTimeNs > acc[slot].last { acc[slot].last = head.wallTimeNs }
                if options.measurements {
                    rows.append(Row(wall: head.wallTimeNs, seq: seq, duration: head.durationNs, stream: Int32(slot),
                                    failed: head.failed))
                }
            } else {
                // Closed marks are deleted when their measure arrives: every stored mark is open.
                guard range.contains(head.wallTimeNs) else { return }
                acc[slot].inFlight += 1
                if head.wallTimeNs < cutoff { acc[slot].abandoned += 1 }
            }
            newestWall = head.wallTimeNs
        }

        var streams: [StreamStatistics] = []
        streams.reserveCapacity(rings.count)
        for (slot, (_, ring)) in rings.enumerated() {
            let a = acc[slot]
            guard a.retained == a.expected else {
                throw PerfLogError.corrupt(what: "\(ring.summary.stream) holds \(a.retained) retained measures, its ring \(a.expected)")
            }
            if !range.isUnbounded && a.count == 0 && a.inFlight == 0 { continue }
            var s = StreamStatistics(
                stream: ring.summary.stream, count: a.count, failures: a.failures, inFlight: a.inFlight,
                abandoned: a.abandoned, sortedOk: a.ok.sorted(),
                firstAtNs: a.count > 0 ? a.first : nil, lastAtNs: a.count > 0 ? a.last : nil)
            s.lifetime = ring.summary.lifetime
            streams.append(s)
        }

        // Wall times usually rise with seq (one clock, appends in order), so the rows are
        // typically sorted already; check before paying for a sort.
        if !isOrdered(rows) { rows.sort(by: rowPrecedes) }
        // Streams left out for the time range shift the indexes of those after them.
        var projected = [Int32](repeating: -1, count: rings.count)
        var next: Int32 = 0
        for (slot, (_, ring)) in rings.enumerated() where next < streams.count && streams[Int(next)].stream == ring.summary.stream {
            projected[slot] = next
            next += 1
        }
        let names = rings.map(\.ring.summary.stream)
        let measurements = rows.map { r in
            var m = RetainedMeasure(stream: names[Int(r.stream)], seq: r.seq, wallTimeNs: r.wall, durationNs: r.duration,
                                outcome: r.failed ? .failed : .ok)
            m.streamIndex = projected[Int(r.stream)]
            return m
        }
        return Projection(generatedAtNs: newestWall, retain: retain, lastSeq: try reader.lastSeq(), streams: streams,
                          comparisons: [], measurements: measurements)
    }

    @inline(__always)
    private static func rowPrecedes(_ a: Row, _ b: Row) -> Bool {
        a.wall != b.wall ? a.wall < b.wall : a.seq < b.seq
    }

    private static func isOrdered(_ rows: [Row]) -> Bool {
        rows.withUnsafeBufferPointer { b in
            for i in b.indices.dropFirst() where rowPrecedes(b[i], b[i - 1]) { return false }
            return true
        }
    }

    /// The kept streams, each from its ring, plus the open marks.
    private static func readRings(_ reader: LogReader, filter: StreamFilter, now: Int64, options: Options) throws -> Projection {
        let summaries = try reader.streams(filter)
        var marksByStream: [StreamName: [Event]] = [:]
        for m in try reader.openMarks(filter) { marksByStream[m.stream, default: []].append(m) }
        var streams: [StreamStatistics] = []
        var measurements: [RetainedMeasure] = []
        var newest: (seq: UInt64, wall: Int64) = (0, 0)
        let range = options.timeRange
        for s in summaries {
            var window = try reader.ring(s.stream)
            var marks = marksByStream[s.stream] ?? []
            if !range.isUnbounded {
                window.removeAll { !range.contains($0.wallTimeNs) }
                marks.removeAll { !range.contains($0.wallTimeNs) }
                if window.isEmpty && marks.isEmpty { continue }
            }
            let index = streams.count
            var statistics = StreamStatistics(stream: s.stream, window: window, openMarks: marks, now: now,
                                              abandonAfter: options.abandonAfter)
            statistics.lifetime = s.lifetime
            streams.append(statistics)
            for e in window + marks where e.seq > newest.seq { newest = (e.seq, e.wallTimeNs) }
            if options.measurements {
                measurements += window.map {
                    var m = RetainedMeasure(stream: $0.stream, seq: $0.seq, wallTimeNs: $0.wallTimeNs,
                                        durationNs: $0.durationNs, outcome: $0.outcome)
                    m.streamIndex = Int32(index)
                    return m
                }
            }
        }
        measurements.sort { $0.wallTimeNs != $1.wallTimeNs ? $0.wallTimeNs < $1.wallTimeNs : $0.seq < $1.seq }
        return Projection(generatedAtNs: newest.wall, retain: reader.retain, lastSeq: try reader.lastSeq(),
                          streams: streams, comparisons: [], measurements: measurements)
    }

    // MARK: Comparing

    /// One comparison per agent of `streams` (ordered by agent then CLI).
    static func comparisons(_ streams: [StreamStatistics]) -> [Comparison] {
        var out: [Comparison] = []
        var start = streams.startIndex
        while start < streams.endIndex {
            let agent = streams[start].stream.agent
            var end = start + 1
            while end < streams.endIndex && streams[end].stream.agent == agent { end += 1 }
            out.append(compare(agent: agent, Array(streams[start..<end])))
            start = end
        }
        return out
    }

    /// Compares the CLIs of one agent.
    static func compare(agent: String, _ clis: [StreamStatistics]) -> Comparison {
        compare(agent: agent, groups: clis.map { (label: $0.stream.cli, durations: $0.durations) })
    }

    /// Ranks `groups` of one agent's measures (its CLIs, or the groups another grouping
    /// makes) as ``Comparison`` does its CLIs: each group's label becomes an entry's
    /// ``Comparison/Entry/cli``.
    static func compare(agent: String, groups: [(label: String, durations: DurationStatistics?)]) -> Comparison {
        // Ranked by the mean as it is shown (to the microsecond) so that CLIs whose shown
        // means are equal are ordered by name, as a reader expects.
        typealias Group = (label: String, durations: DurationStatistics)
        func shownMean(_ d: DurationStatistics) -> Double {
            (d.meanNs / 1000).rounded(.toNearestOrAwayFromZero)
        }
        func byName(_ a: String, _ b: String) -> Bool {
            a.utf8.lexicographicallyPrecedes(b.utf8)
        }
        let ranked: [Group] = groups.compactMap { g in g.durations.map { (g.label, $0) } }.sorted { a, b in
            let ma = shownMean(a.durations), mb = shownMean(b.durations)
            return ma != mb ? ma < mb : byName(a.label, b.label)
        }
        let unranked = groups.filter { $0.durations == nil }.map(\.label).sorted(by: byName)
        guard let fastest = ranked.first?.durations else {
            return Comparison(agent: agent, fastestCli: nil, byCli: unranked.map {
                Comparison.Entry(cli: $0, okCount: 0, meanNs: nil, relative: nil, relativeUncertainty: nil,
                                 pValue: nil)
            })
        }
        var entries: [Comparison.Entry] = []
        for (i, s) in ranked.enumerated() {
            let d = s.durations
            var e = Comparison.Entry(cli: s.label, okCount: d.count, meanNs: d.meanNs, relative: nil,
                                     relativeUncertainty: nil, pValue: nil)
            if i == 0 {
                e.relative = 1
                e.relativeUncertainty = d.count >= 2 ? 0 : nil
            } else {
                if fastest.meanNs > 0 {
                    let r = d.meanNs / fastest.meanNs
                    e.relative = r
                    if d.count >= 2 && fastest.count >= 2 && d.meanNs > 0 {
                        let a = d.standardErrorNs / d.meanNs, b = fastest.standardErrorNs / fastest.meanNs
                        e.relativeUncertainty = r * (a * a + b * b).squareRoot()
                    }
                } else if d.meanNs == 0 {
                    e.relative = 1
                }
                e.pValue = Statistics.welchPValue(d, fastest)
            }
            entries.append(e)
        }
        for label in unranked {
            entries.append(Comparison.Entry(cli: label, okCount: 0, meanNs: nil, relative: nil,
                                            relativeUncertainty: nil, pValue: nil))
        }
        return Comparison(agent: agent, fastestCli: ranked[0].label, byCli: entries)
    }
}
