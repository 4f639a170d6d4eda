import LMDB

extension ImportedEvents {
    /// How many records the first pass reads between two progress reports.
    static let recordsPerProgress = 1 << 16

    /// The first pass of an import: reads `reader`'s input to the end, checking every
    /// record by the rules of ``ImportedEvents``, and keeps only counts, so memory does
    /// not depend on the input's size.
    /// - Parameters:
    ///   - skipInvalid: count records that break a rule instead of failing.
    ///   - retain: the ring size of the log the input is for, when known: the check then
    ///     also finds which records can change such a log (an ``ImportWindow``), so that
    ///     the second pass commits only those.
    ///   - progress: called every few tens of thousands of records.
    /// - Throws: ``PerfLogError``: `invalidLine` or `invalidInput` naming the line or
    ///   element, field and rule of the first invalid record (any malformed flat array
    ///   with `skipInvalid`); `storage` when reading fails.
    public static func check(
        _ reader: ImportReader, skipInvalid: Bool, retain: Int? = nil, progress: (ImportProgress) -> Void = { _ in }
    ) throws(PerfLogError) -> ImportCheck {
        var check = ImportCheck(format: .ndjson)
        var window = retain.map { ImportWindowBuilder(retain: $0) }
        var records = 0
        while let record = try reader.next() {
            records += 1
            switch record {
            case .success(let event):
                check.events += 1
                window?.add(event, at: reader.position)
            case .failure(let error):
                guard skipInvalid else { throw error }
                check.invalid += 1
                if check.problems.count < maxProblems { check.problems.append(error) }
            }
            if records % recordsPerProgress == 0 { progress(.checking(records: records, bytes: reader.offset)) }
        }
        check.format = reader.format ?? .ndjson
        check.bytes = reader.offset
        check.window = window?.window()
        return check
    }
}

extension EventLog {
    /// How many events an import commits at a time: a bound on its memory (tens of
    /// megabytes), large enough that commits cost little next to parsing.
    public static let importEventsPerCommit = 50_000

    /// Parses `bytes` (see ``ImportedEvents``) and imports the events; see
    /// ``importStream(_:skipInvalid:eventsPerCommit:chunkBytes:progress:)``.
    /// - Returns: the counts, `invalid` included.
    /// - Throws: ``PerfLogError``: `invalidLine` or `invalidInput` naming the line or
    ///   element, field and rule; `storage` when a commit fails.
    public func importData(_ bytes: [UInt8], skipInvalid: Bool = false) throws(PerfLogError) -> ImportCounts {
        try importStream(ImportBytes(bytes), skipInvalid: skipInvalid)
    }

    /// Imports the input of `source` in two passes, in memory bounded whatever its size:
    /// the first checks every record (``ImportedEvents/check(_:skipInvalid:progress:)``),
    /// so that invalid input (without `skipInvalid`) commits nothing; the second commits
    /// the events in chunks of `eventsPerCommit`
    /// (``importCommitting(_:check:skipInvalid:eventsPerCommit:progress:)``).
    /// - Returns: the counts, `invalid` included.
    /// - Throws: ``PerfLogError``: `invalidLine` or `invalidInput` naming the line or
    ///   element, field and rule (nothing committed); `storage` when reading or a commit
    ///   fails (the chunks committed before stay: importing the input again completes the
    ///   import).
    public func importStream(
        _ source: some ImportSource, skipInvalid: Bool = false, eventsPerCommit: Int = EventLog.importEventsPerCommit,
        chunkBytes: Int = ImportReader.defaultChunkBytes, progress: (ImportProgress) -> Void = { _ in }
    ) throws(PerfLogError) -> ImportCounts {
        let reader = ImportReader(source, chunkBytes: chunkBytes)
        let check = try ImportedEvents.check(reader, skipInvalid: skipInvalid, retain: retain, progress: progress)
        return try importCommitting(reader, check: check, skipInvalid: skipInvalid, eventsPerCommit: eventsPerCommit,
                                    progress: progress)
    }

    /// The second pass of an import: rewinds `reader` and commits the events of its
    /// input, `eventsPerCommit` at a time, each chunk by the rules of ``importEvents(_:)``
    /// in input order. When the first pass found an ``ImportWindow`` for a ring size at
    /// least this log's, only the records in it are parsed and committed, the others
    /// counted outside the window (they would be evicted by the same import), which
    /// leaves the log as committing them all would. Importing the same input again adds
    /// nothing, so an import interrupted between two commits (a crash, a full disk) is
    /// completed by running it again.
    /// - Parameters:
    ///   - check: what the first pass found in the same input.
    ///   - skipInvalid: as in the first pass; invalid records are skipped again.
    ///   - progress: called after each commit.
    /// - Returns: the counts, `invalid` taken from `check`.
    /// - Throws: ``PerfLogError``: `storage` when reading or a commit fails;
    ///   `invalidInput` when the input no longer reads as it did in the first pass (it
    ///   changed meanwhile). The chunks committed before an error stay committed.
    public func importCommitting(
        _ reader: ImportReader, check: ImportCheck, skipInvalid: Bool, eventsPerCommit: Int = EventLog.importEventsPerCommit,
        progress: (ImportProgress) -> Void = { _ in }
    ) throws(PerfLogError) -> ImportCounts {
        try reader.rewind()
        let size = max(1, eventsPerCommit)
        // A window found for smaller rings than this log's (compacted to a larger retain
        // since) may lack measures the log would keep: commit everything then.
        let window = check.window.flatMap { $0.retain >= retain ? $0 : nil }
        let parseAll = window.map { !$0.markKeys.isEmpty } ?? true
        let expected = window?.positions.count ?? check.events
        var total = ImportCounts()
        var committed = 0
        var chunk: [Event] = []
        chunk.reserveCapacity(min(size, expected))
        func commit() throws(PerfLogError) {
            let counts = try importEvents(chunk)
            committed += counts.read
            total.added += counts.added
            total.alreadyPresent += counts.alreadyPresent
            total.outsideWindow += counts.outsideWindow
            chunk.removeAll(keepingCapacity: true)
            progress(.committed(events: committed, of: max(expected, committed)))
        }
        var cursor = 0
        var valid = 0, inWindow = 0
        while parseAll || inWindow < expected,
              let record = try (parseAll ? reader.next() : reader.next { window?.keeps($0, cursor: &cursor) ?? true }) {
            switch record {
            case .success(let event):
                valid += 1
                let kept: Bool
                if let window {
                    let inside = window.keeps(reader.position, cursor: &cursor)
                    if inside { inWindow += 1 }
                    kept = inside
                        || (event.kind == .measure && window.markKeys.contains(ImportMarkKey(stream: event.stream, invocation: event.invocation)))
                } else {
                    inWindow += 1
                    kept = true
                }
                guard kept else { continue }
                chunk.append(event)
                if chunk.count == size { try commit() }
            case .failure(let error):
                // The first pass accepted the input: it has changed since.
                guard skipInvalid else { throw changed(error.description) }
            }
        }
        if !chunk.isEmpty { try commit() }
        guard inWindow == expected, !parseAll || valid == check.events else {
            throw changed("it now holds \(parseAll ? valid : inWindow) valid records, not \(parseAll ? check.events : expected)")
        }
        total.read = check.events
        total.outsideWindow += check.events - committed
        total.invalid = check.invalid
        return total
    }

    private func changed(_ detail: String) -> PerfLogError {
        .invalidInput(field: "input", rule: "changed while it was imported (\(detail)); import it again")
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
        var newIDs = SmallMap<StreamName, UInt32>()
        let known = streamIDs.withLock { $0.ids }
        let counts: ImportCounts
        do {
            counts = try write { txn in
                let plan = try ImportPlan(events, reader: LogReader(txn: txn, log: self), txn: txn, dbs: dbs, retain: retain)
                var batch = try AppendBatch(txn: txn, dbs: dbs, retain: retain, known: known)
                if !plan.accepted.isEmpty { _ = try batch.run(plan.accepted) }
                newIDs = batch.assigned
                return plan.counts
            }
        } catch {
            throw explained(.from(error, operation: "importing into the log"))
        }
        if !newIDs.isEmpty {
            streamIDs.withLock { $0.ids.update(with: newIDs) }
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
        // Only the measures of the input's marks need their fate remembered: most
        // inputs have few marks, and a dictionary of every measure cost a tenth of an import.
        var markKeys: Set<MarkKey> = []
        for e in events where e.kind == .mark { markKeys.insert(MarkKey(stream: e.stream, invocation: e.invocation)) }
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
            if !markKeys.isEmpty {
                for i in indices {
                    let key = MarkKey(stream: stream, invocation: events[i].invocation)
                    if markKeys.contains(key) && measureFate[key] == nil { measureFate[key] = fates[i] }
                }
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
