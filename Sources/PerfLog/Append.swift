import LMDB

extension EventLog {
    /// Appends `events` in one commit, in order, assigning each the next `seq`.
    ///
    /// A mark is stored as open (in flight) and on the timeline. A measure is written to
    /// its stream's ring, evicting the oldest measure once the ring holds `retain`, and
    /// to the timeline; it closes the open mark of the same invocation and stream, if
    /// any. The stream's summary is updated in the same commit.
    /// - Returns: the `seq` of the first event (the others follow consecutively), or the
    ///   last committed `seq` when `events` is empty.
    /// - Throws: ``PerfLogError`` (`storage` with `ENOSPC` when the disk is full:
    ///   nothing of this call is committed, every earlier commit is kept).
    @discardableResult
    public func append(_ events: [Event]) throws(PerfLogError) -> UInt64 {
        var newIDs: [StreamName: UInt32] = [:]
        let known = streamIDs.withLock { $0 }
        let first: UInt64
        do {
            first = try environment.write { txn in
                newIDs = [:]
                var batch = AppendBatch(txn: txn, dbs: dbs, retain: UInt64(retain), known: known)
                let first = try batch.run(events)
                newIDs = batch.assigned
                return first
            }
        } catch let error as PerfLogError {
            throw error
        } catch let error as LMDBError {
            throw .storage(error, operation: "writing to the log")
        } catch {
            throw .storage(LMDBError(.invalid, operation: "append"), operation: "writing to the log")
        }
        if !newIDs.isEmpty {
            streamIDs.withLock { $0.merge(newIDs) { a, _ in a } }
        }
        return first
    }
}

/// The work of one ``EventLog/append(_:)`` commit: stream ids, summaries and the seq
/// counter are loaded once and written back once.
struct AppendBatch {
    let txn: Transaction
    let dbs: EventLog.Databases
    let retain: UInt64
    let known: [StreamName: UInt32]
    var assigned: [StreamName: UInt32] = [:]
    var summaries: [UInt32: StreamSummary] = [:]

    init(txn: Transaction, dbs: EventLog.Databases, retain: UInt64, known: [StreamName: UInt32]) {
        self.txn = txn
        self.dbs = dbs
        self.retain = retain
        self.known = known
    }

    mutating func run(_ events: [Event]) throws -> UInt64 {
        let seqKey = Array("seq".utf8), streamsKey = Array("streams".utf8)
        guard let seqBytes = try txn.value(in: dbs.meta, forKey: seqKey), seqBytes.count == 8,
              let countBytes = try txn.value(in: dbs.meta, forKey: streamsKey), countBytes.count == 4
        else { throw PerfLogError.corrupt(what: "the log's counters are missing") }
        var seq = seqBytes.withUnsafeBytes { Keys.readU64($0) }
        var lastStream = countBytes.withUnsafeBytes { Keys.readU32($0) }
        let first = seq + 1
        if events.isEmpty { return seq }

        for var event in events {
            seq += 1
            event.seq = seq
            let id = try streamID(event.stream, lastStream: &lastStream)
            var summary = try loadSummary(id, event.stream)
            switch event.kind {
            case .mark:
                var value = Keys.u32(id)
                value += EventRecord.encode(event)
                try txn.put(dbs.open, key: Keys.u64(event.invocation.rawValue), value: value)
                try txn.put(dbs.timeline, key: Keys.u64(seq),
                            value: TimelineEntry(kind: .mark, stream: id, ref: event.invocation.rawValue).bytes,
                            flags: .append)
                summary.inFlight += 1
            case .measure:
                try closeMark(event.invocation, stream: id, summary: &summary)
                let slot = summary.appended % retain
                let ringKey = Keys.ring(id, UInt32(slot))
                if summary.appended >= retain {
                    guard let old = try txn.value(in: dbs.rings, forKey: ringKey) else {
                        throw PerfLogError.corrupt(what: "ring slot \(slot) of \(event.stream) is missing")
                    }
                    let evicted = try EventRecord.decode(old, stream: event.stream)
                    try txn.delete(dbs.timeline, key: Keys.u64(evicted.seq))
                    summary.remove(evicted)
                }
                try txn.put(dbs.rings, key: ringKey, value: EventRecord.encode(event))
                try txn.put(dbs.timeline, key: Keys.u64(seq),
                            value: TimelineEntry(kind: .measure, stream: id, ref: slot).bytes, flags: .append)
                summary.appended += 1
                summary.add(event)
            }
            summary.lastSeq = seq
            summaries[id] = summary
        }

        for (id, summary) in summaries.sorted(by: { $0.key < $1.key }) {
            try txn.put(dbs.summaries, key: Keys.u32(id), value: SummaryRecord.encode(summary))
        }
        try txn.put(dbs.meta, key: seqKey, value: Keys.u64(seq))
        try txn.put(dbs.meta, key: streamsKey, value: Keys.u32(lastStream))
        return first
    }

    private mutating func streamID(_ stream: StreamName, lastStream: inout UInt32) throws -> UInt32 {
        if let id = known[stream] ?? assigned[stream] { return id }
        let key = Keys.name(stream)
        if let stored = try txn.value(in: dbs.names, forKey: key) {
            guard stored.count == 4 else { throw PerfLogError.corrupt(what: "stream id of \(stream)") }
            let id = stored.withUnsafeBytes { Keys.readU32($0) }
            assigned[stream] = id
            return id
        }
        guard lastStream < UInt32.max else { throw PerfLogError.invalidInput(field: "stream", rule: "too many streams") }
        lastStream += 1
        try txn.put(dbs.names, key: key, value: Keys.u32(lastStream))
        assigned[stream] = lastStream
        summaries[lastStream] = StreamSummary(stream: stream)
        return lastStream
    }

    private mutating func loadSummary(_ id: UInt32, _ stream: StreamName) throws -> StreamSummary {
        if let s = summaries[id] { return s }
        guard let raw = try txn.value(in: dbs.summaries, forKey: Keys.u32(id)) else {
            throw PerfLogError.corrupt(what: "the summary of \(stream) is missing")
        }
        return try SummaryRecord.decode(raw)
    }

    /// Removes the open mark of `invocation` when it belongs to `stream`.
    private mutating func closeMark(_ invocation: InvocationID, stream id: UInt32, summary: inout StreamSummary) throws {
        let key = Keys.u64(invocation.rawValue)
        guard let value = try txn.value(in: dbs.open, forKey: key) else { return }
        let (owner, record) = try EventRecord.splitOpenMark(value)
        guard owner == id else { return }
        let mark = try EventRecord.decode(record, stream: summary.stream)
        try txn.delete(dbs.open, key: key)
        try txn.delete(dbs.timeline, key: Keys.u64(mark.seq))
        summary.inFlight -= 1
    }
}
