import LMDB

/// One broken invariant found by ``LogReader/verify()``.
public struct Problem: Hashable, Sendable, CustomStringConvertible {
    /// Where: a stream (`agent/cli`), `timeline`, `open`, `names` or `meta`.
    public var location: String
    /// What is wrong.
    public var message: String

    /// `"<location>: <message>"`.
    public var description: String { "\(location): \(message)" }
}

extension LogReader {
    /// Checks every invariant of the log: each summary decodes and matches its ring
    /// (count, failures, durations, open marks); each ring holds exactly
    /// min(appended, retain) measures in increasing `seq`; the timeline holds exactly
    /// the retained measures and the open marks, each entry pointing at the event with
    /// its `seq`; the name index matches the summaries; no `seq` exceeds the counter.
    /// - Returns: the problems found, empty for a sound log.
    /// - Throws: ``PerfLogError/storage(_:operation:)`` when LMDB itself fails.
    public func verify() throws -> [Problem] {
        var problems: [Problem] = []
        func problem(_ location: String, _ message: String) { problems.append(Problem(location: location, message: message)) }

        let last: UInt64
        do { last = try lastSeq() } catch { problem("meta", "\(error)"); return problems }

        var summaries: [(id: UInt32, summary: StreamSummary)] = []
        do { summaries = try summariesByID() } catch { problem("summaries", "\(error)"); return problems }
        let byID = Dictionary(summaries.map { ($0.id, $0.summary) }, uniquingKeysWith: { a, _ in a })
        var expected: [UInt64: TimelineEntry] = [:]
        let retain = UInt64(log.retain)

        // Open marks, per stream.
        var openByStream: [UInt32: Int] = [:]
        do {
            try txn.withCursor(log.dbs.open) { c in
                var entry = try c.first()
                while let (k, v) = entry {
                    let location = "open"
                    if k.count != 8 {
                        problem(location, "key of \(k.count) bytes")
                    } else if v.count <= 4 {
                        problem(location, "value of \(v.count) bytes")
                    } else {
                        let id = Keys.readU32(v)
                        let invocation = Keys.readU64(k)
                        if let s = byID[id] {
                            do {
                                let mark = try EventRecord.decode(UnsafeRawBufferPointer(rebasing: v[4...]), stream: s.stream)
                                if mark.kind != .mark { problem(location, "invocation \(InvocationID(rawValue: invocation)) holds a measure") }
                                if mark.invocation.rawValue != invocation { problem(location, "invocation key does not match its mark") }
                                if mark.seq > last { problem(location, "seq \(mark.seq) is past the counter \(last)") }
                                expected[mark.seq] = TimelineEntry(kind: .mark, stream: id, ref: invocation)
                                openByStream[id, default: 0] += 1
                            } catch {
                                problem(location, "\(error)")
                            }
                        } else {
                            problem(location, "mark of unknown stream \(id)")
                        }
                    }
                    entry = try c.next()
                }
            }
        } catch { problem("open", "\(error)") }

        // Rings against summaries.
        var ringEntries = 0
        for (id, summary) in summaries {
            let location = summary.stream.description
            if (try? streamID(summary.stream)) != .some(id) { problem(location, "name index does not point to stream \(id)") }
            let ring: [Event]
            do { ring = try self.ring(id: id, summary: summary) } catch { problem(location, "\(error)"); continue }
            let want = Int(min(summary.appended, retain))
            if ring.count != want { problem(location, "ring holds \(ring.count) measures, expected \(want)") }
            var previous: UInt64 = 0
            var check = StreamSummary(stream: summary.stream)
            let start = summary.appended > retain ? summary.appended - retain : 0
            for (i, e) in ring.enumerated() {
                if e.kind != .measure { problem(location, "ring holds a mark at seq \(e.seq)") }
                if e.seq <= previous { problem(location, "ring out of order at seq \(e.seq)") }
                if e.seq > last { problem(location, "seq \(e.seq) is past the counter \(last)") }
                previous = e.seq
                check.add(e)
                expected[e.seq] = TimelineEntry(kind: .measure, stream: id, ref: (start + UInt64(i)) % retain)
            }
            if check.count != summary.count || check.failures != summary.failures || check.okTotalNs != summary.okTotalNs {
                problem(location, "summary (count \(summary.count), failures \(summary.failures)) does not match its ring (count \(check.count), failures \(check.failures))")
            }
            if summary.inFlight != openByStream[id, default: 0] {
                problem(location, "summary counts \(summary.inFlight) in flight, the log holds \(openByStream[id, default: 0])")
            }
            if previous > summary.lastSeq { problem(location, "lastSeq \(summary.lastSeq) is older than its newest measure \(previous)") }
            ringEntries += ring.count
        }
        do {
            let stored = try txn.statistics(log.dbs.rings).entries
            if stored != ringEntries { problem("rings", "\(stored) slots stored, \(ringEntries) belong to rings") }
            let names = try txn.statistics(log.dbs.names).entries
            if names != summaries.count { problem("names", "\(names) names for \(summaries.count) summaries") }
        } catch { problem("rings", "\(error)") }

        // The timeline is exactly the retained measures and open marks.
        do {
            var seen = 0
            try txn.withCursor(log.dbs.timeline) { c in
                var entry = try c.first()
                while let (k, v) = entry {
                    seen += 1
                    if k.count != 8 {
                        problem("timeline", "key of \(k.count) bytes")
                    } else {
                        let seq = Keys.readU64(k)
                        do {
                            let t = try TimelineEntry(v)
                            if expected[seq] != t { problem("timeline", "entry \(seq) is not a retained event or open mark") }
                        } catch {
                            problem("timeline", "entry \(seq): \(error)")
                        }
                    }
                    entry = try c.next()
                }
            }
            if seen != expected.count {
                problem("timeline", "holds \(seen) entries, expected \(expected.count) (retained measures and open marks)")
            }
        } catch { problem("timeline", "\(error)") }
        return problems
    }
}
