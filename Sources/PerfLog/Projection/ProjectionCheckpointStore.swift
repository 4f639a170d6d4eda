import LMDB

extension LogReader {
    /// The checkpoint stored under `key`, if any.
    /// - Throws: ``PerfLogError`` when LMDB fails.
    func projectionCheckpoint(_ key: [UInt8]) throws -> ProjectionCheckpoint? {
        try txn.projectionCheckpoint(key, in: dbs)
    }
}

extension EventLog {
    /// Stores `checkpoint` under `key` in a write transaction of its own (a few bytes:
    /// it never holds the writer lock for long). It does not wait for the lock: a
    /// checkpoint is only a shortcut, not worth delaying a reader for.
    /// - Throws: ``PerfLogError``: `busy` when another process holds the log,
    ///   `storage` when writing fails.
    func storeProjectionCheckpoint(_ checkpoint: ProjectionCheckpoint, key: [UInt8]) throws(PerfLogError) {
        try PerfLogError.wrapping(operation: "storing the projection checkpoint") {
            try write(deadlineNs: EventClock.monotonicNs()) { txn in try txn.putProjectionCheckpoint(checkpoint, key: key, in: dbs) }
        }
    }

    /// Whether the log was opened read-only (it can store no checkpoint).
    var isReadOnly: Bool { environment.options.flags.contains(.readOnly) }
}
