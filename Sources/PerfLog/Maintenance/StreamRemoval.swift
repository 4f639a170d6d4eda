import LMDB

/// One stream that ``EventLog/forget(_:)-(StreamFilter)`` removed, as it was.
public struct ForgottenStream: Sendable, Hashable {
    /// The stream's name.
    public var stream: StreamName
    /// The measures its window held (its ring).
    public var measures: Int
    /// Its open marks (invocations in flight).
    public var inFlight: Int
    /// What its lifetime counters had counted, which go with it.
    public var lifetime: LifetimeCounters
}

extension EventLog {
    /// Removes every stream `filter` keeps, entirely, in one commit: see
    /// ``forget(_:)-([StreamName])``.
    /// - Returns: what was removed, by stream name; empty when `filter` keeps no stream.
    /// - Throws: ``PerfLogError``: `invalidInput` for an empty filter (which would keep
    ///   every stream); otherwise as ``forget(_:)-([StreamName])``.
    @discardableResult
    public func forget(_ filter: StreamFilter) throws(PerfLogError) -> [ForgottenStream] {
        guard !filter.isEmpty else {
            throw .invalidInput(field: "streams", rule: "name the agent or the CLI whose streams to forget")
        }
        return try forgetting { edit in try edit.reader.streams(filter).map(\.stream) }
    }

    /// Removes the streams `streams` entirely, in one commit: each one's record (window,
    /// lifetime counters, ring) and `names` entry, every event of it the log stores (the
    /// measures its ring retains, its open marks and their `open` entries, and evicted
    /// measures not yet collected). Other streams are not touched. Names the log does
    /// not hold are skipped.
    ///
    /// Stream ids are never given out again, so a later record under the same name makes
    /// a new stream whose lifetime counters start then (a counter reset to Prometheus).
    /// A compaction running meanwhile is waited for, up to the wait bound; a crash
    /// leaves the log as it was before.
    /// - Returns: what was removed, in name order.
    /// - Throws: ``PerfLogError``: `busy` when a compaction or another writer keeps the
    ///   log past the wait bound; `corrupt` when a record or event of these streams does
    ///   not decode (nothing is changed; `perflog check --repair` first); `storage`.
    @discardableResult
    public func forget(_ streams: [StreamName]) throws(PerfLogError) -> [ForgottenStream] {
        try forgetting { _ in streams }
    }

    /// Forgets the streams `choose` names, reading the log in the same transaction.
    private func forgetting(_ choose: (StreamEdit) throws -> [StreamName]) throws(PerfLogError) -> [ForgottenStream] {
        let forgotten = try maintenanceWrite(operation: "forgetting streams") { txn, _ in
            var edit = try StreamEdit(txn: txn, log: self)
            var ids: [(StreamName, UInt32)] = []
            for stream in Set(try choose(edit)).sorted() {
                if let id = try edit.load(stream) { ids.append((stream, id)) }
            }
            guard !ids.isEmpty else { return [ForgottenStream]() }
            _ = try edit.deleteEvicted(of: Set(ids.map(\.1)))
            var out: [ForgottenStream] = []
            for (stream, id) in ids {
                guard let ring = edit.rings[id] else { continue }
                for seq in ring.slots { try edit.delete(seq) }
                let inFlight = try edit.deleteOpenMarks(of: id)
                try edit.deleteRecord(of: id)
                out.append(ForgottenStream(stream: stream, measures: ring.summary.count, inFlight: inFlight, lifetime: ring.summary.lifetime))
            }
            try edit.finish()
            return out
        }
        forgetIDs(of: forgotten.map(\.stream))
        return forgotten
    }

    /// Drops `streams` from the ids this process knows committed (an append checks a
    /// known id against its record anyway, as another process may have changed it).
    func forgetIDs(of streams: [StreamName]) {
        guard !streams.isEmpty else { return }
        streamIDs.withLock { known in for s in streams { known.ids[s] = nil } }
    }
}
