import LMDB

/// One broken invariant found by ``LogReader/verify()``.
public struct Problem: Hashable, Sendable, CustomStringConvertible {
    /// Where: a stream (`agent/cli`), `timeline`, `open`, `names` or `meta`.
    public var location: String
    /// What is wrong.
    public var message: String

    /// A problem at `location`.
    package init(location: String, message: String) {
        self.location = location
        self.message = message
    }

    /// `"<location>: <message>"`.
    public var description: String { "\(location): \(message)" }
}

extension LogReader {
    /// Checks every invariant of the log: each stream record decodes and its summary
    /// matches its ring (count, failures, durations, open marks); each ring holds exactly
    /// min(appended, retain) measures of its stream in increasing `seq`; every stored
    /// event is a retained measure, an open mark, or an evicted measure awaiting
    /// collection above the `gc` mark, and the garbage count matches; the name index
    /// matches the streams; no `seq` exceeds the counter.
    /// - Returns: the problems found, empty for a sound log.
    /// - Throws: ``PerfLogError/storage(_:operation:)`` when LMDB itself fails.
    public func verify() throws(PerfLogError) -> [Problem] {
        var problems: [Problem] = []
        func problem(_ location: String, _ message: String) { problems.append(Problem(location: location, message: message)) }
        let dbs = self.dbs
        let retain = self.retain

        let last: UInt64, gc: UInt64, garbage: UInt64, schema: UInt32, bounds: BucketBounds
        do {
            schema = try storedSchema()
            bounds = try txn.bucketBounds(in: dbs.meta) ?? .standard
            if schema >= 2, try txn.bucketBounds(in: dbs.meta) == nil { problem("meta", "the histogram bounds are missing") }
            last = try storedLastSeq()
            gc = try txn.counter(.gc, in: dbs)
            garbage = try txn.counter(.garbage, in: dbs)
        } catch { problem("meta", "\(error)"); return problems }

        var rings: [UInt32: Ring] = [:]
        do {
            for (id, ring) in try ringsByID() { rings[id] = ring }
        } catch { problem("streams", "\(error)"); return problems }

        // Open marks: invocation → seq of a mark with that invocation.
        var openSeqs: [UInt64: UInt64] = [:]
        do {
            try txn.withCursor(dbs.open) { c in
                var entries = try c.entries()
                while let (k, v) = try entries.next() {
                    if let mark = Keys.openMark(k, v) {
                        openSeqs[mark.seq] = mark.invocation
                    } else {
                        problem("open", "entry of \(k.count)/\(v.count) bytes")
                    }
                }
            }
        } catch { problem("open", "\(error)") }

        // Every stored event: retained, open, or garbage above gc.
        var retainedSeen: [UInt32: Int] = [:]
        var openByStream: [UInt32: Int] = [:]
        var summed: [UInt32: StreamSummary] = [:]
        var garbageSeen: UInt64 = 0
        var marksSeen = 0
        do {
            try txn.withCursor(dbs.events) { c in
                var entries = try c.entries()
                // A move that fails ends the walk, not the check: what follows reports the rest.
                while let (k, v) = try? entries.next() {
                    guard let seq = Keys.seq(k) else { problem("timeline", "key of \(k.count) bytes"); continue }
                    if seq > last { problem("timeline", "event \(seq) is past the counter \(last)") }
                    guard let id = StoredEvent.stream(v), let ring = rings[id] else {
                        problem("timeline", "event \(seq) belongs to no stream"); continue
                    }
                    let event: Event
                    do { event = try EventRecord.decode(StoredEvent.record(v), stream: ring.summary.stream) } catch {
                        problem("timeline", "event \(seq): \(error)"); continue
                    }
                    if event.seq != seq { problem("timeline", "event \(seq) records seq \(event.seq)") }
                    switch event.kind {
                    case .mark:
                        marksSeen += 1
                        if openSeqs[seq] != event.invocation.rawValue {
                            problem("timeline", "mark \(seq) is stored but not open")
                        }
                        openByStream[id, default: 0] += 1
                    case .measure:
                        if ring.retains(seq, retain: retain) {
                            retainedSeen[id, default: 0] += 1
                            summed[id, default: StreamSummary(stream: ring.summary.stream)].add(event)
                        } else if seq < gc {
                            problem("timeline", "evicted measure \(seq) is below the collection mark \(gc)")
                        } else {
                            garbageSeen += 1
                        }
                    }
                }
            }
        } catch { problem("timeline", "\(error)") }
        if garbageSeen != garbage { problem("timeline", "\(garbageSeen) evicted measures await collection, meta counts \(garbage)") }
        if marksSeen != openSeqs.count { problem("open", "\(openSeqs.count) open marks, \(marksSeen) stored") }

        // Each ring against its events and summary.
        for (id, ring) in rings.sorted(by: { $0.key < $1.key }) {
            let s = ring.summary
            let location = s.stream.description
            if (try? streamID(s.stream)) != .some(id) { problem(location, "name index does not point to stream \(id)") }
            let want = Int(min(s.appended, UInt64(retain)))
            if ring.slots.count != want { problem(location, "ring holds \(ring.slots.count) measures, expected \(want)") }
            let ordered = ring.ordered(retain: retain)
            if zip(ordered, ordered.dropFirst()).contains(where: { $0 >= $1 }) { problem(location, "ring is out of order") }
            if retainedSeen[id, default: 0] != ordered.count {
                problem(location, "ring points to \(ordered.count) measures, \(retainedSeen[id, default: 0]) are stored")
            }
            let check = summed[id] ?? StreamSummary(stream: s.stream)
            if check.count != s.count || check.failures != s.failures || check.okTotalNs != s.okTotalNs {
                problem(location, "summary (count \(s.count), failures \(s.failures)) does not match its ring (count \(check.count), failures \(check.failures))")
            }
            let life = s.lifetime
            if life.ok < UInt64(s.okCount) || life.failed < UInt64(s.failures) {
                problem(location, "lifetime counters (\(life.ok) ok, \(life.failed) failed) are below the window's (\(s.okCount) ok, \(s.failures) failed)")
            }
            if schema >= 2 {
                if life.buckets.count != bounds.bucketCount {
                    problem(location, "histogram has \(life.buckets.count) buckets, the log's bounds make \(bounds.bucketCount)")
                } else if life.buckets.reduce(0, &+) != life.ok {
                    problem(location, "histogram counts \(life.buckets.reduce(0, &+)) measures, the lifetime counters \(life.ok) ok")
                }
            }
            if s.inFlight != openByStream[id, default: 0] {
                problem(location, "summary counts \(s.inFlight) in flight, the log holds \(openByStream[id, default: 0])")
            }
            if let newest = ordered.last, newest > s.lastSeq { problem(location, "lastSeq \(s.lastSeq) is older than its newest measure \(newest)") }
        }
        do {
            let names = try txn.statistics(dbs.names).entries
            if names != rings.count { problem("names", "\(names) names for \(rings.count) streams") }
        } catch { problem("names", "\(error)") }
        return problems
    }
}
