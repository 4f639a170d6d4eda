import LMDB

/// One repair, inside a write transaction.
struct RepairPass {
    let txn: Transaction
    let log: EventLog
    let dbs: EventLog.Databases
    let retain: Int
    var report = RepairReport()

    init(txn: Transaction, log: EventLog, dbs: EventLog.Databases, retain: Int) {
        self.txn = txn
        self.log = log
        self.dbs = dbs
        self.retain = retain
    }

    mutating func run(cutoffWallNs: Int64?) throws -> RepairReport {
        let bounds = try txn.bucketBounds(in: dbs.meta) ?? .standard
        let repairedAtNs = EventClock.wallNs()

        // Stream records: a record that does not decode cannot be named, so the stream
        // and its events go.
        var rings: [UInt32: Ring] = [:]
        var badStreams: [UInt32] = []
        try txn.withCursor(dbs.streams) { c in
            var entries = try c.entries()
            while let (k, v) = try entries.next() {
                guard let id = Keys.streamID(k) else { continue }
                if let ring = try? RingRecord.decode(v, retain: retain) {
                    rings[id] = ring
                } else {
                    badStreams.append(id)
                }
            }
        }
        for id in badStreams {
            try Keys.with(id) { k in _ = try txn.delete(dbs.streams, key: k) }
            report.undecodableRemoved += 1
        }

        // Every stored event: keep what decodes and belongs to a stream. Of a measure
        // only what its summary counts is kept: a large log's events, metadata and all,
        // would take gigabytes.
        var measures: [UInt32: [UInt64: Counted]] = [:]
        var marks: [(id: UInt32, event: Event)] = []
        var doomed: [UInt64] = []
        var lastSeq: UInt64 = 0
        try txn.withCursor(dbs.events) { c in
            var entries = try c.entries()
            // A move that fails ends the walk, not the repair.
            while let (k, v) = try? entries.next() {
                guard let seq = Keys.seq(k) else { continue }
                lastSeq = max(lastSeq, seq)
                guard let id = StoredEvent.stream(v), let ring = rings[id],
                      let e = try? EventRecord.decode(StoredEvent.record(v), stream: ring.summary.stream), e.seq == seq
                else {
                    doomed.append(seq)
                    report.undecodableRemoved += 1
                    continue
                }
                if e.kind == .measure {
                    measures[id, default: [:]][seq] = Counted(durationNs: e.durationNs, failed: e.outcome == .failed)
                } else {
                    marks.append((id, e))
                }
            }
        }

        // Rings keep the measures that exist; summaries are recounted from them.
        var inFlight: [UInt32: Int] = [:]
        // Expiring a mark is upkeep, not damage: the stream's count of marks in flight and
        // the open index change by it without anything having been wrong.
        var expiredOf: [UInt32: Int] = [:]
        var open: [UInt64: (seq: UInt64, id: UInt32)] = [:]
        for (id, mark) in marks.sorted(by: { $0.event.seq < $1.event.seq }) {
            if let cutoffWallNs, mark.wallTimeNs < cutoffWallNs {
                doomed.append(mark.seq)
                report.marksExpired += 1
                expiredOf[id, default: 0] += 1
                continue
            }
            if let older = open[mark.invocation.rawValue] {
                // Two open marks with one invocation: the newer one stands.
                doomed.append(older.seq)
                inFlight[older.id, default: 0] -= 1
                report.undecodableRemoved += 1
            }
            open[mark.invocation.rawValue] = (mark.seq, id)
            inFlight[id, default: 0] += 1
        }
        for (id, ring) in rings {
            let stored = measures[id] ?? [:]
            let ordered = ring.ordered(retain: retain)
            let kept = ordered.filter { stored[$0] != nil }
            report.missingMeasures += ordered.count - kept.count
            var fixed = ring
            if kept.count != ordered.count {
                fixed.slots = kept
                fixed.summary.appended = UInt64(kept.count)
            }
            var summary = StreamSummary(stream: ring.summary.stream)
            for seq in kept { if let e = stored[seq] { summary.add(durationNs: e.durationNs, failed: e.failed) } }
            fixed.summary.count = summary.count
            fixed.summary.failures = summary.failures
            fixed.summary.okTotalNs = summary.okTotalNs
            fixed.summary.inFlight = inFlight[id, default: 0]
            if !fixed.summary.lifetime.holds(window: fixed.summary, bounds: bounds) {
                // Counters that cannot be true are rebuilt from what is kept, with a new
                // start, so that Prometheus sees a reset and not a lie.
                var lifetime = LifetimeCounters(startedNs: repairedAtNs, bucketCount: bounds.bucketCount)
                for seq in kept { if let e = stored[seq] { lifetime.add(durationNs: e.durationNs, failed: e.failed, bounds: bounds) } }
                fixed.summary.lifetime = lifetime
                report.countersRestarted += 1
            }
            let newest = max(kept.last ?? 0, marks.filter { $0.id == id }.map(\.event.seq).max() ?? 0)
            fixed.summary.lastSeq = max(fixed.summary.lastSeq, newest)
            let keptSet = Set(kept)
            for seq in stored.keys where !keptSet.contains(seq) {
                doomed.append(seq)
                report.garbageCollected += 1
            }
            if fixed.summary != ring.summary || fixed.slots != ring.slots {
                var upkept = ring
                upkept.summary.inFlight -= expiredOf[id, default: 0]
                if fixed.summary != upkept.summary || fixed.slots != upkept.slots { report.streamsRebuilt += 1 }
                try log.put(fixed, id: id, txn: txn, dbs: dbs)
            }
        }
        for seq in doomed { try Keys.with(seq) { k in _ = try txn.delete(dbs.events, key: k) } }

        // Derived indexes, rebuilt whole.
        let oldNames = try txn.statistics(dbs.names).entries, oldOpen = try txn.statistics(dbs.open).entries
        try txn.empty(dbs.names)
        for (id, ring) in rings { try txn.putStreamID(id, of: ring.summary.stream, in: dbs) }
        try txn.empty(dbs.open)
        for (invocation, mark) in open {
            try Keys.with(invocation) { k in try Keys.with(mark.seq) { v in try txn.put(dbs.open, key: k, value: v) } }
        }
        report.indexEntriesFixed += abs(oldNames - rings.count) + abs(oldOpen - report.marksExpired - open.count)

        // Counters: nothing evicted is left, so the collection mark moves past the end.
        let seq = max(lastSeq, try txn.counter(.seq, as: UInt64.self, in: dbs))
        let streams = max(rings.keys.max() ?? 0, (try? txn.counter(.streams, as: UInt32.self, in: dbs)) ?? 0)
        try txn.putMeta(.seq, seq, in: dbs.meta)
        try txn.putMeta(.streams, streams, in: dbs.meta)
        try txn.putMeta(.gc, seq + 1, in: dbs.meta)
        try txn.putMeta(.garbage, UInt64(0), in: dbs.meta)
        return report
    }

    /// What a measure adds to its stream's summary.
    private struct Counted {
        var durationNs: UInt64
        var failed: Bool
    }
}
