import LMDB

/// What ``EventLog/repair(expiringMarksOlderThan:)`` changed.
public struct RepairReport: Sendable, Hashable {
    /// Streams whose summary or ring was wrong and was rewritten to match the stored
    /// events (a stream whose count of marks in flight only fell by its expired marks is
    /// not among them: that is ``marksExpired``).
    public var streamsRebuilt = 0
    /// Stored values that did not decode, or belonged to no stream, and were removed.
    public var undecodableRemoved = 0
    /// Ring slots that pointed at a missing measure and were dropped.
    public var missingMeasures = 0
    /// Evicted measures removed from the timeline.
    public var garbageCollected = 0
    /// Open marks older than the cutoff (abandoned) that were removed.
    public var marksExpired = 0
    /// Entries of the derived indexes (`names`, `open`) that were rebuilt differently,
    /// not counting the open-mark entries of ``marksExpired``.
    public var indexEntriesFixed = 0
    /// Streams whose lifetime counters could not be true (below the window, or a
    /// histogram that does not add up) and were restarted from the window, with the
    /// repair's time as their start. Each is also among ``streamsRebuilt``.
    public var countersRestarted = 0

    /// Whether anything was changed.
    public var changedAnything: Bool {
        streamsRebuilt + undecodableRemoved + missingMeasures + garbageCollected + marksExpired + indexEntriesFixed > 0
    }

    /// Creates an empty report.
    public init() {}
}

extension EventLog {
    /// Rebuilds everything derived from the rings and the stored events, in one commit:
    /// the name index, each stream's summary, the open-mark index and the counters;
    /// drops what does not decode and ring slots whose measure is missing; deletes
    /// evicted measures still stored; and removes open marks whose wall time is older
    /// than `cutoffWallNs` (abandoned invocations), when given.
    ///
    /// A sound log comes out with the same retained events; ``LogReader/verify()`` is
    /// empty afterwards. A compaction running meanwhile is waited for, up to the wait
    /// bound.
    /// - Throws: ``PerfLogError`` (`busy` when a compaction runs past the wait bound,
    ///   naming its pid; `storage` when the log cannot be written).
    @discardableResult
    public func repair(expiringMarksOlderThan cutoffWallNs: Int64? = nil) throws(PerfLogError) -> RepairReport {
        try maintenanceWrite(operation: "repairing the log") { txn, opened in
            var pass = RepairPass(txn: txn, log: self, dbs: opened.dbs, retain: opened.retain)
            return try pass.run(cutoffWallNs: cutoffWallNs)
        }
    }

    /// Removes open marks whose wall time is older than `cutoffWallNs` (abandoned
    /// invocations: crashed or killed before their measure), adjusting their streams'
    /// in-flight counts, in one commit.
    /// - Returns: how many marks were removed.
    /// - Throws: ``PerfLogError`` (`storage` when the log cannot be written).
    @discardableResult
    public func expireAbandonedMarks(olderThan cutoffWallNs: Int64) throws(PerfLogError) -> Int {
        try PerfLogError.wrapping(operation: "expiring abandoned marks") {
            try write { txn in
                let reader = LogReader(txn: txn, log: self)
                var expired = 0
                for mark in try reader.openMarks() where mark.wallTimeNs < cutoffWallNs {
                    guard let id = try reader.streamID(mark.stream) else { continue }
                    var ring = try reader.ring(id: id)
                    try Keys.with(mark.seq) { k in _ = try txn.delete(dbs.events, key: k) }
                    try Keys.with(mark.invocation.rawValue) { k in _ = try txn.delete(dbs.open, key: k) }
                    ring.summary.inFlight -= 1
                    try put(ring, id: id, txn: txn, dbs: reader.dbs)
                    expired += 1
                }
                return expired
            }
        }
    }
}
