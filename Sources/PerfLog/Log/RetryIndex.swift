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
    /// One stream's ring, as invocations, slot by slot as the ring stores its `seq`s: a
    /// new measure takes the slot of the one it evicts, and a look-up is a scan of a few
    /// hundred integers, cheaper than hashing.
    struct Entry: Sendable {
        /// The record's `lastSeq` and `appended` the entry matches.
        var lastSeq: UInt64
        var appended: UInt64
        /// The `seq` in each slot; 0 when the log lacks the measure.
        var seqs: [UInt64] = []
        /// The invocation of the measure in each slot.
        var invocations: [UInt64] = []

        init(lastSeq: UInt64, appended: UInt64) {
            self.lastSeq = lastSeq
            self.appended = appended
        }

        /// The entry of `ring`, read from the measures it points to.
        /// - Throws: ``PerfLogError/corrupt(what:)`` when a measure does not decode; `LMDBError`.
        init(_ ring: Ring, txn: Transaction, dbs: EventLog.Databases) throws {
            self.init(lastSeq: ring.summary.lastSeq, appended: ring.summary.appended)
            for seq in ring.slots {
                // A measure the ring names but the log lacks is `check`'s to report; it
                // holds no invocation to match.
                if let raw = try Keys.with(seq, { k in try txn.value(in: dbs.events, forKey: k) }), StoredEvent.isMeasure(raw) {
                    seqs.append(seq)
                    invocations.append(try EventRecord.decode(StoredEvent.record(raw), stream: ring.summary.stream).invocation.rawValue)
                } else {
                    seqs.append(0)
                    invocations.append(0)
                }
            }
        }

        /// Whether a measure of `invocation` is in the ring.
        func holds(_ invocation: UInt64) -> Bool {
            for k in invocations.indices where invocations[k] == invocation && seqs[k] != 0 { return true }
            return false
        }

        /// The measure `seq` of `invocation` took ring slot `slot`.
        mutating func put(seq: UInt64, invocation: UInt64, slot: Int) {
            if slot < seqs.count {
                seqs[slot] = seq
                invocations[slot] = invocation
            } else {
                seqs.append(seq)
                invocations.append(invocation)
            }
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
