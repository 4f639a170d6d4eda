import LMDB
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension EventLog {
    /// Appends `events` in one commit, in order, assigning each the next `seq`.
    ///
    /// A mark is stored as open (in flight) and on the timeline. A measure is stored on
    /// the timeline and in its stream's ring, evicting the oldest measure once the ring
    /// holds `retain`; it closes the open mark of the same invocation and stream, if any.
    /// The stream's summary is updated in the same commit.
    /// - Returns: the `seq` of the first event (the others follow consecutively), or the
    ///   last committed `seq` when `events` is empty.
    ///
    /// It waits for another process that holds the log's write lock for at most
    /// `waitLimit` (default: the log's ``waitLimit``).
    /// - Throws: ``PerfLogError``: `busy` naming the holder when the lock stayed held
    ///   (nothing is committed); `storage` with `ENOSPC` when the disk is full (nothing
    ///   of this call is committed, every earlier commit is kept).
    @discardableResult
    public func append(_ events: [Event], waitingUpTo waitLimit: Duration? = nil) throws(PerfLogError) -> UInt64 {
        try append(events, deadlineNs: EventLog.deadline(waitLimit ?? self.waitLimit))
    }

    /// ``append(_:waitingUpTo:)`` with the lock's deadline on the monotonic clock; with
    /// `rings`, the rings a long-lived writer has decoded before are taken from there.
    func append(_ events: [Event], deadlineNs: UInt64, rings: DecodedRings? = nil) throws(PerfLogError) -> UInt64 {
        var newIDs = SmallMap<StreamName, UInt32>()
        let known = streamIDs.withLock { $0.ids }
        let first: UInt64
        do {
            try refuseIfReadOnly()
            first = try using { opened in
                try writeTransaction(opened.environment, deadlineNs: deadlineNs) { txn in
                    var batch = try AppendBatch(txn: txn, dbs: opened.dbs, retain: opened.retain, known: known)
                    let first = try rings.map { try $0.lend(to: &batch) { batch in try batch.run(events) } } ?? batch.run(events)
                    newIDs = batch.assigned
                    return first
                }
            }
        } catch {
            throw explained(.from(error, operation: "writing to the log"))
        }
        if !newIDs.isEmpty {
            streamIDs.withLock { $0.ids.update(with: newIDs) }
        }
        return first
    }
}

extension EventLog {
    /// ``append(_:deadlineNs:rings:)`` without the measures `retries` finds in their rings.
    /// - Returns: the `seq` of the first event appended and the events appended (those
    ///   of `events` that were not retries), whose `seq`s follow consecutively.
    func append(
        _ events: [Event], deadlineNs: UInt64, retries: RetryIndex, rings: DecodedRings? = nil
    ) throws(PerfLogError) -> (first: UInt64, kept: [Event]) {
        var newIDs = SmallMap<StreamName, UInt32>()
        let known = streamIDs.withLock { $0.ids }
        let result: (first: UInt64, kept: [Event])
        do {
            try refuseIfReadOnly()
            result = try using { opened in
                try writeTransaction(opened.environment, deadlineNs: deadlineNs) { txn in
                    var batch = try AppendBatch(txn: txn, dbs: opened.dbs, retain: opened.retain, known: known)
                    let first = try retries.lend(to: &batch) { batch in
                        try rings.map { try $0.lend(to: &batch) { batch in try batch.run(events) } } ?? batch.run(events)
                    }
                    newIDs = batch.assigned
                    guard !batch.skipped.isEmpty else { return (first, events) }
                    var kept: [Event] = []
                    kept.reserveCapacity(events.count - batch.skipped.count)
                    var next = 0
                    for (position, e) in events.enumerated() {
                        if next < batch.skipped.count && batch.skipped[next] == position { next += 1 } else { kept.append(e) }
                    }
                    return (first, kept)
                }
            }
        } catch {
            throw explained(.from(error, operation: "writing to the log"))
        }
        if !newIDs.isEmpty {
            streamIDs.withLock { $0.ids.update(with: newIDs) }
        }
        return result
    }
}

extension EventLog {
    /// LMDB reports a short write of a commit as `EIO`; on a file system with no room
    /// left that is a full disk, and saying so tells the user what to do.
    func explained(_ error: PerfLogError) -> PerfLogError {
        guard case .storage(let lmdb, let operation) = error, lmdb.code == .ioError else { return error }
        var fs = statvfs()
        guard statvfs(path, &fs) == 0, UInt64(fs.f_bavail) * UInt64(fs.f_frsize) < 1 << 20 else { return error }
        return .storage(LMDBError(.noSpace, operation: lmdb.operation, context: lmdb.context), operation: operation)
    }
}
