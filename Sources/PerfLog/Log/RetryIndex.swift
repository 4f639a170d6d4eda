import LMDB
import Synchronization

/// The invocations of the measures each stream's ring holds, kept by one writer across
/// its commits, so that a measure sent again (a client that did not see its
/// acknowledgement resends after a reconnect) is acknowledged and not stored twice.
///
/// Each stream's entry is checked against its stored record (its newest `seq` and how
/// many measures it was ever appended) inside the commit's transaction: another
/// process's commit, a compaction, a repair or a commit of ours that failed all change
/// or keep back the record, and the entry is then read again from the ring. So the
/// answer is always the ring's, at the cost of reading a ring only when it changed
/// behind this writer's back.
package final class RetryIndex: Sendable {
    private struct Entry {
        /// The record's `lastSeq` and `appended` the entry matches.
        var lastSeq: UInt64
        var appended: UInt64
        /// The ring's measures, oldest first.
        var seqs: [UInt64]
        var invocations: [UInt64]
        var present: Set<UInt64>
    }

    private let entries = Mutex<[UInt32: Entry]>([:])

    /// An empty index.
    package init() {}

    /// `events` without the measures whose invocation their stream's ring holds
    /// already, or that an earlier event of `events` measures; appends the rest and
    /// brings the index up to date, all in `txn`.
    /// - Returns: the `seq` of the first event appended and the events appended.
    func append(
        _ events: [Event], txn: Transaction, log: EventLog, dbs: EventLog.Databases, retain: Int,
        batch: inout AppendBatch
    ) throws -> (first: UInt64, kept: [Event]) {
        try entries.withLock { entries in
            let reader = LogReader(txn: txn, log: log)
            var kept: [Event] = []
            kept.reserveCapacity(events.count)
            var batchInvocations: [StreamName: Set<UInt64>] = [:]
            var idOf: [StreamName: UInt32?] = [:]
            for e in events {
                guard e.kind == .measure else { kept.append(e); continue }
                let known: UInt32?
                if let cached = idOf[e.stream] {
                    known = cached
                } else {
                    known = try reader.streamID(e.stream)
                    idOf[e.stream] = known
                    if let id = known { try validate(id, in: &entries, reader: reader, retain: retain) }
                }
                let invocation = e.invocation.rawValue
                if let id = known, entries[id]?.present.contains(invocation) == true { continue }
                if !batchInvocations[e.stream, default: []].insert(invocation).inserted { continue }
                kept.append(e)
            }
            let first = try batch.run(kept)
            // The rings as this commit leaves them.
            var seq = first
            var added: [UInt32: [(UInt64, UInt64)]] = [:]
            for e in kept {
                if e.kind == .measure, let id = idOf[e.stream] ?? nil { added[id, default: []].append((seq, e.invocation.rawValue)) }
                seq += 1
            }
            for case let (_, id?) in idOf {
                guard var entry = entries[id] else { continue }
                let ring = try reader.ring(id: id)
                if let new = added[id] {
                    for (s, i) in new {
                        entry.seqs.append(s)
                        entry.invocations.append(i)
                        entry.present.insert(i)
                    }
                }
                let oldest = ring.oldest(retain: retain) ?? .max
                var drop = 0
                while drop < entry.seqs.count && entry.seqs[drop] < oldest { drop += 1 }
                if drop > 0 {
                    for i in entry.invocations[..<drop] { entry.present.remove(i) }
                    entry.seqs.removeFirst(drop)
                    entry.invocations.removeFirst(drop)
                }
                entry.lastSeq = ring.summary.lastSeq
                entry.appended = ring.summary.appended
                entries[id] = entry
            }
            return (first, kept)
        }
    }

    /// Makes the entry of stream `id` match its stored ring, reading the ring when it
    /// does not.
    private func validate(_ id: UInt32, in entries: inout [UInt32: Entry], reader: LogReader, retain: Int) throws {
        let ring = try reader.ring(id: id)
        if let entry = entries[id], entry.lastSeq == ring.summary.lastSeq, entry.appended == ring.summary.appended { return }
        var entry = Entry(lastSeq: ring.summary.lastSeq, appended: ring.summary.appended, seqs: [], invocations: [], present: [])
        for seq in ring.ordered(retain: retain) {
            // A measure the ring names but the log lacks is `check`'s to report; it
            // holds no invocation to match.
            guard let raw = try Keys.with(seq, { k in try reader.txn.value(in: reader.dbs.events, forKey: k) }),
                  StoredEvent.isMeasure(raw)
            else { continue }
            let invocation = try EventRecord.decode(StoredEvent.record(raw), stream: ring.summary.stream).invocation.rawValue
            entry.seqs.append(seq)
            entry.invocations.append(invocation)
            entry.present.insert(invocation)
        }
        entries[id] = entry
    }
}
