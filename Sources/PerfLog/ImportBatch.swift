import LMDB

/// What one import did with its events. `read` = `added` + `alreadyPresent` +
/// `outsideWindow`.
public struct ImportCounts: Sendable, Hashable, CustomStringConvertible {
    /// Valid events in the input.
    public var read = 0
    /// Events now in the log (a mark whose measure is in the same input is not stored,
    /// since the measure closes it at once, and is counted as its measure is).
    public var added = 0
    /// Events skipped because the log already holds them.
    public var alreadyPresent = 0
    /// Measures skipped because their stream's ring keeps newer ones: see
    /// ``EventLog/importEvents(_:)``.
    public var outsideWindow = 0
    /// Records of the input skipped as invalid (with `skipInvalid`).
    public var invalid = 0

    /// No events.
    public init() {}

    /// `read N, added N, already present N, outside the window N, invalid N`.
    public var description: String {
        "read \(read), added \(added), already present \(alreadyPresent), outside the window \(outsideWindow), invalid \(invalid)"
    }
}

extension EventLog {
    /// Parses `bytes` (see ``ImportedEvents``) and imports the events in one commit:
    /// either every accepted event is committed or, when the input is invalid (and
    /// `skipInvalid` is off) or the commit fails, none is.
    /// - Returns: the counts, `invalid` included.
    /// - Throws: ``PerfLogError``: `invalidInput` naming the line or element, field and
    ///   rule; `storage` when the commit fails.
    public func importData(_ bytes: [UInt8], skipInvalid: Bool = false) throws(PerfLogError) -> ImportCounts {
        let parsed = try ImportedEvents(parsing: bytes, skipInvalid: skipInvalid)
        var counts = try importEvents(parsed.events)
        counts.invalid = parsed.invalid
        return counts
    }

    /// Adds `events` to the log in one commit, idempotently: importing the same events
    /// again adds nothing, so the retained events stay identical.
    ///
    /// Events are appended in order of wall time (ties in input order), so that a ring
    /// built by importing is in time order; each gets a new `seq`. Per stream:
    ///
    /// - A measure is **already present** when its ring holds a measure with the same
    ///   invocation and the same wall time to the microsecond (the precision of
    ///   NDJSON), or when it repeats an earlier event of the input.
    /// - Of the other measures, those newer than the ring's newest retained measure are
    ///   appended (only the newest `retain` of them: older ones would be evicted by the
    ///   same commit). Measures no newer than that only fill the ring's free slots,
    ///   newest first; once it is full they are **outside the window**. An import thus
    ///   never evicts a retained measure for an older one: a full ring only takes
    ///   measures newer than everything it holds. This is what makes a second import of
    ///   the same input add nothing, whatever order the ring was recorded in.
    /// - A mark is already present when an open mark has its invocation (in any
    ///   stream), when its stream's ring holds a measure of its invocation, or when it
    ///   repeats an earlier mark of the input. A mark whose measure (same stream and
    ///   invocation) is in the input is not stored and takes that measure's fate.
    ///
    /// - Returns: the counts (`invalid` is 0).
    /// - Throws: ``PerfLogError`` (`storage` when the commit fails: nothing of this call
    ///   is committed).
    @discardableResult
    public func importEvents(_ events: [Event]) throws(PerfLogError) -> ImportCounts {
        var newIDs: [StreamName: UInt32] = [:]
        let known = streamIDs.withLock { $0 }
        let counts: ImportCounts
        do {
            counts = try write { txn in
                let plan = try ImportPlan(events, reader: LogReader(txn: txn, log: self), txn: txn, dbs: dbs, retain: retain)
                var batch = try AppendBatch(txn: txn, dbs: dbs, retain: retain, known: known)
                if !plan.accepted.isEmpty { _ = try batch.run(plan.accepted) }
                newIDs = batch.assigned
                return plan.counts
            }
        } catch let error as PerfLogError {
            throw error
        } catch let error as LMDBError {
            throw .storage(explained(error), operation: "importing into the log")
        } catch {
            throw .storage(LMDBError(.invalid, operation: "import"), operation: "importing into the log")
        }
        if !newIDs.isEmpty {
            streamIDs.withLock { $0.merge(newIDs) { a, _ in a } }
        }
        return counts
    }
}

/// Decides, inside the import's write transaction, which events to append.
private struct ImportPlan {
    /// The events to append, in append order.
    var accepted: [Event] = []
    var counts = ImportCounts()

    private enum Fate { case added, present, outside }

    /// Identifies a measure across logs: NDJSON keeps wall times to the microsecond.
    private struct Identity: Hashable {
        var invocation: InvocationID
        var microseconds: Int64

        init(_ e: Event) {
            invocation = e.invocation
            // Floor division, so that times before the epoch truncate the way they print.
            microseconds = e.wallTimeNs / 1000 - (e.wallTimeNs % 1000 < 0 ? 1 : 0)
        }
    }

    /// What the log holds of one stream.
    private struct StreamState {
        var present: Set<Identity> = []
        var invocations: Set<InvocationID> = []
        var count = 0
        var newestNs: Int64?
    }

    private struct MarkKey: Hashable {
        var stream: StreamName
        var invocation: InvocationID
    }

    init(_ events: [Event], reader: LogReader, txn: Transaction, dbs: EventLog.Databases, retain: Int) throws {
        counts.read = events.count
        let order = events.indices.sorted { a, b in
            events[a].wallTimeNs != events[b].wallTimeNs ? events[a].wallTimeNs < events[b].wallTimeNs : a < b
        }
        var states: [StreamName: StreamState] = [:]
        func state(_ stream: StreamName) throws -> StreamState {
            if let s = states[stream] { return s }
            var s = StreamState()
            for e in try reader.ring(stream) {
                s.present.insert(Identity(e))
                s.invocations.insert(e.invocation)
                s.count += 1
                s.newestNs = max(s.newestNs ?? e.wallTimeNs, e.wallTimeNs)
            }
            states[stream] = s
            return s
        }

        var fates = [Fate?](repeating: nil, count: events.count)

        // Measures, stream by stream, in time order.
        var measuresByStream: [StreamName: [Int]] = [:]
        for i in order where events[i].kind == .measure { measuresByStream[events[i].stream, default: []].append(i) }
        var measureFate: [MarkKey: Fate] = [:]
        for (stream, indices) in measuresByStream {
            let s = try state(stream)
            var seen = s.present
            var newer: [Int] = [], older: [Int] = []
            for i in indices {
                guard seen.insert(Identity(events[i])).inserted else { fates[i] = .present; continue }
                if let newest = s.newestNs, events[i].wallTimeNs <= newest { older.append(i) } else { newer.append(i) }
            }
            let room = max(0, retain - s.count)
            let keptNewer = min(newer.count, retain)
            let keptOlder = min(older.count, max(0, room - newer.count))
            for (n, i) in newer.enumerated() { fates[i] = n >= newer.count - keptNewer ? .added : .outside }
            for (n, i) in older.enumerated() { fates[i] = n >= older.count - keptOlder ? .added : .outside }
            for i in indices {
                let key = MarkKey(stream: stream, invocation: events[i].invocation)
                if measureFate[key] == nil { measureFate[key] = fates[i] }
            }
        }

        // Marks, after their measures are decided.
        var markSeen: Set<InvocationID> = []
        var storedMarks: Set<Int> = []
        for i in order where events[i].kind == .mark {
            let e = events[i]
            if let fate = measureFate[MarkKey(stream: e.stream, invocation: e.invocation)] {
                fates[i] = fate
                continue
            }
            let open = try Keys.with(e.invocation.rawValue) { k in try txn.value(in: dbs.open, forKey: k) } != nil
            let measured = try state(e.stream).invocations.contains(e.invocation)
            if open || measured || !markSeen.insert(e.invocation).inserted {
                fates[i] = .present
            } else {
                fates[i] = .added
                storedMarks.insert(i)
            }
        }

        for i in order {
            switch fates[i] {
            case .added:
                counts.added += 1
                if events[i].kind == .measure || storedMarks.contains(i) { accepted.append(events[i]) }
            case .present: counts.alreadyPresent += 1
            case .outside: counts.outsideWindow += 1
            case nil: break
            }
        }
    }
}
