import LMDB
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Brings a compaction's copy up to date with the live log: replays, through the
/// append logic and keeping their `seq`s, the events committed after the copy's `seq`,
/// so that rings, evictions, collection and open marks evolve in the copy as they did
/// in the log.
///
/// Some of those events may be gone from the log by the time they are read (an
/// evicted measure already collected, a mark already closed); the replay makes up for
/// them from the log's own records: streams created meanwhile are created with the
/// same ids; rings touched are taken as the log holds them (when the ring size is
/// unchanged; the copy keeps its own in-flight counts, which expiry may have lowered);
/// open marks the log closed meanwhile are closed; meta values other than the
/// counters (projection checkpoints) are copied.
struct Replay {
    let log: EventLog
    let copy: Environment
    let liveRetain: Int
    var dbs: EventLog.Databases!
    var retain = 0

    init(log: EventLog, copy: Environment, liveRetain: Int, retain: Int = 0) {
        self.log = log
        self.copy = copy
        self.liveRetain = liveRetain
        self.retain = retain
    }

    mutating func openCopy() throws {
        let (dbs, retain) = try copy.read { txn -> (EventLog.Databases, Int) in
            let dbs = try EventLog.Databases.open(txn, create: false)
            guard let retain = try txn.meta(.retain, as: UInt32.self, in: dbs.meta) else {
                throw PerfLogError.corrupt(what: "the ring size is missing")
            }
            return (dbs, Int(retain))
        }
        self.dbs = dbs
        self.retain = retain
    }

    /// What one read of the live log gives the replay.
    private struct Delta {
        var seq: UInt64 = 0
        var lastStream: UInt32 = 0
        var events: [Event] = []
        var newStreams: [(id: UInt32, summary: StreamSummary)] = []
        var rings: [UInt32: Ring] = [:]
        var open: [UInt64: UInt64] = [:]
        var extraMeta: [(key: [UInt8], value: [UInt8])] = []
    }

    /// Applies what the log committed after the copy's `seq`, in one commit of the copy.
    /// - Returns: how many events were replayed.
    mutating func catchUp() throws -> Int {
        let dbs = self.dbs!
        let (covered, copyLast) = try copy.read { txn in
            (try txn.counter(.seq, as: UInt64.self, in: dbs), try txn.counter(.streams, as: UInt32.self, in: dbs))
        }
        let liveLog = self.log
        let delta: Delta = try liveLog.reading { opened in
            try opened.environment.read { txn in
                let reader = LogReader(txn: txn, log: liveLog)
                var d = Delta()
                d.seq = try reader.storedLastSeq()
                guard d.seq > covered else { return d }
                let live = reader.dbs
                d.lastStream = try txn.counter(.streams, in: live)
                d.events = try reader.timeline(after: covered)
                try txn.withCursor(live.streams) { c in
                    var entries = try Keys.with(copyLast &+ 1) { k in try c.entries(atOrAfter: k) }
                    while copyLast < UInt32.max, let (k, v) = try entries.next() {
                        d.newStreams.append((Keys.integer32(k), try RingRecord.decodeSummary(v)))
                    }
                }
                var names: [StreamName: UInt32] = [:]
                for e in d.events where names[e.stream] == nil {
                    guard let id = try reader.streamID(e.stream) else { continue }
                    names[e.stream] = id
                    d.rings[id] = try reader.ring(id: id)
                }
                for (id, _) in d.newStreams where d.rings[id] == nil { d.rings[id] = try reader.ring(id: id) }
                try txn.withCursor(live.open) { c in
                    var entries = try c.entries()
                    while let (k, v) = try entries.next() {
                        if let mark = Keys.openMark(k, v) { d.open[mark.invocation] = mark.seq }
                    }
                }
                d.extraMeta = try txn.metaBesidesCounters(in: live)
                return d
            }
        }
        guard delta.seq > covered else { return 0 }
        let retain = self.retain, liveRetain = self.liveRetain
        try copy.write { txn in
            for (id, summary) in delta.newStreams where id > copyLast {
                try txn.putStreamID(id, of: summary.stream, in: dbs)
                var ring = Ring(stream: summary.stream)
                // Its counters start when the log started them; the events replayed
                // below add to them, and the log's record then sets them exactly.
                ring.summary.lifetime = LifetimeCounters(startedNs: summary.lifetime.startedNs, bucketCount: summary.lifetime.buckets.count)
                try liveLog.put(ring, id: id, txn: txn, dbs: dbs)
            }
            if delta.lastStream > copyLast { try txn.putMeta(.streams, delta.lastStream, in: dbs.meta) }
            var batch = try AppendBatch(txn: txn, dbs: dbs, retain: retain, known: SmallMap())
            _ = try batch.run(delta.events, keepingSeqs: true)

            // Marks the log closed by an event no longer stored.
            var closed: [(invocation: UInt64, seq: UInt64)] = []
            try txn.withCursor(dbs.open) { c in
                var entries = try c.entries()
                while let (k, v) = try entries.next() {
                    if let mark = Keys.openMark(k, v), delta.open[mark.invocation] != mark.seq {
                        closed.append(mark)
                    }
                }
            }
            for mark in closed {
                let owner = try Keys.with(mark.seq) { k in try txn.value(in: dbs.events, forKey: k).flatMap(StoredEvent.stream) }
                try Keys.with(mark.seq) { k in _ = try txn.delete(dbs.events, key: k) }
                try Keys.with(mark.invocation) { k in _ = try txn.delete(dbs.open, key: k) }
                guard let owner, let raw = try Keys.with(owner, { k in try txn.value(in: dbs.streams, forKey: k) }) else { continue }
                var ring = try RingRecord.decode(raw, retain: retain)
                ring.summary.inFlight = max(0, ring.summary.inFlight - 1)
                try liveLog.put(ring, id: owner, txn: txn, dbs: dbs)
            }

            // Rings as the log holds them.
            for (id, live) in delta.rings {
                guard let raw = try Keys.with(id, { k in try txn.value(in: dbs.streams, forKey: k) }) else { continue }
                let mine = try RingRecord.decode(raw, retain: retain)
                var fixed = mine
                if retain == liveRetain {
                    fixed = live
                    fixed.summary.inFlight = mine.summary.inFlight
                } else {
                    fixed.summary.lastSeq = max(mine.summary.lastSeq, live.summary.lastSeq)
                }
                // Counters count every measure, also those the log evicted and collected
                // before the replay could read them: the log's own are the truth.
                fixed.summary.lifetime = live.summary.lifetime
                if fixed.summary != mine.summary || fixed.slots != mine.slots { try liveLog.put(fixed, id: id, txn: txn, dbs: dbs) }
            }
            for (key, value) in delta.extraMeta { try txn.put(dbs.meta, key: key, value: value) }
            try txn.putMeta(.seq, delta.seq, in: dbs.meta)
        }
        return delta.events.count
    }
}
