import LMDB

extension EventLog {
    /// Upgrades a log of an older schema to this build's, in one write transaction, so
    /// that a process that dies meanwhile leaves it as it was.
    ///
    /// - Schema 1 to 2: the histogram bounds are stored (``BucketBounds/standard``) and
    ///   every stream record gains lifetime counters, started now from what its window
    ///   holds: its retained measures are all that is known of its past.
    /// - Schema 2 to 3: nothing but the version. Schema 3 lets an event record carry a
    ///   signal (a flag bit older builds refuse); records without one are laid out as
    ///   before, so every stored record stays valid as it is.
    /// - Throws: ``PerfLogError``: `busy` when another process holds the log's write lock
    ///   past the wait limit, `corrupt` when a record or a retained measure does not
    ///   decode, `storage` for other LMDB failures.
    static func upgrade(
        _ env: Environment, dbs: Databases, retain: Int, path: String, options: Options, writerLock: WriterLock
    ) throws(PerfLogError) {
        do {
            try writerLock.write(env, deadlineNs: EventLog.deadline(options.waitLimit)) { txn in
                // Another process may have upgraded it since the probe.
                guard let version = try txn.meta(.schema, as: UInt32.self, in: dbs.meta),
                      version < EventLog.schemaVersion
                else { return }
                if version < 2 { try addLifetimeCounters(txn, dbs: dbs, retain: retain) }
                try txn.putMeta(.schema, EventLog.schemaVersion, in: dbs.meta)
            }
        } catch {
            throw .from(error, operation: "upgrading the log to schema \(EventLog.schemaVersion)")
        }
    }

    /// Schema 1 to 2, inside the upgrade's transaction: stores the standard histogram
    /// bounds and gives every stream record lifetime counters counted from its window.
    /// - Throws: `corrupt` for a record that does not decode, LMDB's errors as they come.
    private static func addLifetimeCounters(_ txn: Transaction, dbs: Databases, retain: Int) throws {
        let bounds = BucketBounds.standard
        let startedNs = EventClock.wallNs()
        var rings: [(id: UInt32, ring: Ring)] = []
        try txn.withCursor(dbs.streams) { c in
            var entries = try c.entries()
            while let (k, v) = try entries.next() {
                guard let id = Keys.streamID(k) else { throw PerfLogError.corrupt(what: "stream key of \(k.count) bytes") }
                rings.append((id, try RingRecord.decode(v, retain: retain)))
            }
        }
        for (id, var ring) in rings {
            var lifetime = LifetimeCounters(startedNs: startedNs, bucketCount: bounds.bucketCount)
            for seq in ring.ordered(retain: retain) {
                // A missing measure is `check`'s to report; the upgrade counts what is there.
                guard let counted = try txn.measureCounted(seq, stream: ring.summary.stream, in: dbs) else { continue }
                lifetime.add(durationNs: counted.durationNs, failed: counted.failed, bounds: bounds)
            }
            ring.summary.lifetime = lifetime
            try txn.putRing(ring, id: id, in: dbs)
        }
        try txn.putBucketBounds(bounds, in: dbs.meta)
    }
}
