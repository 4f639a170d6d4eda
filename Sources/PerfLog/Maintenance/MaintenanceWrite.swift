import LMDB

extension EventLog {
    /// Runs `body` in one write transaction that may change the log in ways other than
    /// appending (a repair, forgetting or renaming streams), holding the maintenance
    /// lock throughout.
    ///
    /// A compaction replays only appends into its copy, so anything else must not run
    /// under it: this waits for a running compaction (up to the wait bound) rather than
    /// change the log behind it. Inside, the write is taken like any other (the gate
    /// shared, the writer lock), so recorders are held up only for the transaction.
    /// - Parameters:
    ///   - operation: what is being done, for messages (`repairing the log`).
    ///   - body: the work, given the transaction and the environment it belongs to.
    /// - Throws: ``PerfLogError``: `busy` when a compaction runs past the wait bound
    ///   (naming its pid) or the writer lock stayed held; `storage` when the log cannot
    ///   be written; whatever `body` throws, as a PerfLogError.
    func maintenanceWrite<R>(operation: String, _ body: (Transaction, Opened) throws -> R) throws(PerfLogError) -> R {
        let maintenance = Gate(directory: path, create: false)
        if maintenance.fd >= 0 && !isReadOnlyOpen {
            guard maintenance.lockMaintenance(deadlineNs: EventLog.deadline(waitLimit), recordingPid: true) else {
                let pid = maintenance.maintenanceHolder().map { " (pid \($0))" } ?? ""
                throw .busy(path: path, reason: "a compaction is running\(pid)")
            }
        }
        defer { maintenance.unlockMaintenance() }
        do {
            try refuseIfReadOnly()
            return try using { opened in
                try writeTransaction(opened.environment) { txn in try body(txn, opened) }
            }
        } catch {
            throw explained(.from(error, operation: operation))
        }
    }
}
