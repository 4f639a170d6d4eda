import LMDB
import Synchronization

/// The invocations of the measures each stream's ring holds, kept by one writer across
/// its commits, so that a measure sent again (a client that did not see its
/// acknowledgement resends after a reconnect) is acknowledged and not stored twice.
///
/// Each stream's entry is checked against its stored record (its newest `seq` and how
/// many measures it was ever appended) when a commit loads the record: another
/// process's commit, a compaction, a repair or a commit of ours that failed all change
/// or keep back the record, and the entry is then read again from the ring. So the
/// answer is always the ring's, at the cost of reading a ring only when it changed
/// behind this writer's back. The work is done by ``AppendBatch``, which has the rings
/// loaded anyway.
package final class RetryIndex: Sendable {
    /// One stream's ring, as invocations.
    struct Entry: Sendable {
        /// The record's `lastSeq` and `appended` the entry matches.
        var lastSeq: UInt64
        var appended: UInt64
        /// The ring's measures, oldest first.
        var seqs: [UInt64] = []
        var invocations: [UInt64] = []
        var present: Set<UInt64> = []

        init(lastSeq: UInt64, appended: UInt64) {
            self.lastSeq = lastSeq
            self.appended = appended
        }

        /// The entry of `ring`, read from the measures it points to.
        /// - Throws: ``PerfLogError/corrupt(what:)`` when a measure does not decode; `LMDBError`.
        init(_ ring: Ring, txn: Transaction, dbs: EventLog.Databases, retain: Int) throws {
            self.init(lastSeq: ring.summary.lastSeq, appended: ring.summary.appended)
            for seq in ring.ordered(retain: retain) {
                // A measure the ring names but the log lacks is `check`'s to report; it
                // holds no invocation to match.
                guard let raw = try Keys.with(seq, { k in try txn.value(in: dbs.events, forKey: k) }), StoredEvent.isMeasure(raw)
                else { continue }
                let invocation = try EventRecord.decode(StoredEvent.record(raw), stream: ring.summary.stream).invocation.rawValue
                seqs.append(seq)
                invocations.append(invocation)
                present.insert(invocation)
            }
        }

        /// The measure `seq` of `invocation` joins the ring, `evicting` the oldest one.
        mutating func push(seq: UInt64, invocation: UInt64, evicting: UInt64?) {
            if let evicting {
                var drop = 0
                while drop < seqs.count && seqs[drop] <= evicting { drop += 1 }
                if drop > 0 {
                    for i in invocations[..<drop] { present.remove(i) }
                    seqs.removeFirst(drop)
                    invocations.removeFirst(drop)
                }
            }
            seqs.append(seq)
            invocations.append(invocation)
            present.insert(invocation)
        }

        /// The record now stands at `lastSeq` and `appended`.
        mutating func matches(lastSeq: UInt64, appended: UInt64) {
            self.lastSeq = lastSeq
            self.appended = appended
        }
    }

    private let entries = Mutex<[UInt32: Entry]>([:])

    /// An empty index.
    package init() {}

    /// Runs `body` with the entries lent to `batch`, and takes them back after: an
    /// entry left matching a commit that then failed no longer matches the record, and
    /// is read again by the next commit.
    func lend<R: Sendable>(to batch: inout AppendBatch, _ body: (inout AppendBatch) throws -> R) throws -> R {
        try entries.withLock { entries in
            batch.retries = entries
            entries = [:]
            defer {
                entries = batch.retries ?? [:]
                batch.retries = nil
            }
            return try body(&batch)
        }
    }
}
