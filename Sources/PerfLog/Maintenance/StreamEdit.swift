import LMDB

/// The shared work of ``EventLog/forget(_:)-(StreamFilter)`` and
/// ``EventLog/renameStreams(_:toAgent:cli:)``, inside their one write transaction.
///
/// A stream's data is its record in `streams` (window totals, lifetime counters, ring),
/// its entry in `names`, and its events in `events`: the measures its ring retains, its
/// open marks (also indexed in `open`), and evicted measures awaiting collection (see
/// ``AppendBatch``). Each event names its stream by id at the head of its stored value
/// (``StoredEvent``), so moving an event to another stream rewrites that value under
/// the same `seq`; events never move on the timeline.
struct StreamEdit {
    let txn: Transaction
    let reader: LogReader
    let dbs: EventLog.Databases
    let retain: Int
    /// The rings of the streams loaded, by id, as this edit has left them.
    private(set) var rings: [UInt32: Ring] = [:]
    /// The `seq`s of each stream's open marks, read from `open` once.
    private var marks: [UInt32: [UInt64]] = [:]
    /// The `garbage` counter of `meta`, kept up to date as evicted measures go.
    private var garbage: UInt64
    private var scratch = ByteWriter(capacity: 256)

    /// - Throws: ``PerfLogError/corrupt(what:)`` when a counter or an open mark is
    ///   missing or malformed; `LMDBError`.
    init(txn: Transaction, log: EventLog) throws {
        self.txn = txn
        reader = LogReader(txn: txn, log: log)
        dbs = reader.dbs
        retain = reader.retain
        garbage = try txn.counter(.garbage, in: dbs)
        // Only `seq`s and ids are kept: the records point into pages this edit rewrites.
        for mark in try reader.openMarkRecords() { marks[mark.stream, default: []].append(mark.seq) }
    }

    /// The id of `stream`, its ring loaded; `nil` when the log has no such stream.
    /// - Throws: ``PerfLogError/corrupt(what:)`` when its record is missing or does not
    ///   decode; `LMDBError`.
    mutating func load(_ stream: StreamName) throws -> UInt32? {
        guard let id = try reader.streamID(stream) else { return nil }
        if rings[id] == nil { rings[id] = try reader.ring(id: id) }
        return id
    }

    /// The retained measures of stream `id` (loaded), oldest first.
    /// - Throws: ``PerfLogError/corrupt(what:)`` when one is missing or does not decode.
    func measures(of id: UInt32) throws -> [Event] {
        guard let ring = rings[id] else { return [] }
        return try reader.events(of: id, ring: ring)
    }

    /// The open marks of stream `id` (loaded), in `seq` order.
    /// - Throws: ``PerfLogError/corrupt(what:)`` when one is missing or does not decode.
    func openMarks(of id: UInt32) throws -> [Event] {
        guard let stream = rings[id]?.summary.stream else { return [] }
        return try (marks[id] ?? []).sorted().map { seq in
            let raw = try Keys.with(seq) { k in try txn.value(in: dbs.events, forKey: k) }
            guard let raw, StoredEvent.stream(raw) == id, !StoredEvent.isMeasure(raw) else {
                throw PerfLogError.corrupt(what: "open mark \(seq) of \(stream) is missing")
            }
            return try EventRecord.decode(StoredEvent.record(raw), stream: stream)
        }
    }

    /// Deletes the evicted measures still stored for the streams `ids` (all loaded), in
    /// one walk of the timeline from the collection mark, below which nothing is
    /// evicted. Done before any of their rings changes: a ring tells its evicted
    /// measures from its retained ones.
    /// - Returns: how many were deleted.
    /// - Throws: ``PerfLogError/corrupt(what:)`` for a truncated event; `LMDBError`.
    mutating func deleteEvicted(of ids: Set<UInt32>) throws -> Int {
        guard garbage > 0, !ids.isEmpty else { return 0 }
        let gc: UInt64 = try txn.counter(.gc, in: dbs)
        let rings = self.rings, retain = self.retain
        let deleted: Int = try txn.withCursor(dbs.events) { cursor in
            var deleted = 0
            var entries = try Keys.with(gc) { k in try cursor.entries(atOrAfter: k) }
            while let (key, value) = try entries.next() {
                let seq = Keys.integer(key)
                guard let id = StoredEvent.stream(value) else { throw PerfLogError.corrupt(what: "event \(seq) is truncated") }
                guard ids.contains(id), StoredEvent.isMeasure(value), let ring = rings[id], !ring.retains(seq, retain: retain) else { continue }
                try entries.deleteCurrent()
                deleted += 1
            }
            return deleted
        }
        garbage -= min(garbage, UInt64(deleted))
        return deleted
    }

    /// Deletes the stored event `seq`.
    /// - Throws: `LMDBError`.
    func delete(_ seq: UInt64) throws {
        try Keys.with(seq) { k in _ = try txn.delete(dbs.events, key: k) }
    }

    /// Stores `event` (under its own `seq`) as an event of stream `id`.
    /// - Throws: `LMDBError`.
    mutating func put(_ event: Event, stream id: UInt32) throws {
        StoredEvent.encode(event, stream: id, into: &scratch)
        let bytes = scratch.bytes
        try Keys.with(event.seq) { k in try bytes.withUnsafeBytes { v in try txn.put(dbs.events, key: k, value: v) } }
    }

    /// Deletes stream `id`'s open marks, from `events` and from `open`.
    /// - Returns: how many there were.
    /// - Throws: ``PerfLogError/corrupt(what:)`` when one does not decode; `LMDBError`.
    mutating func deleteOpenMarks(of id: UInt32) throws -> Int {
        let gone = try openMarks(of: id)
        for mark in gone {
            try delete(mark.seq)
            try Keys.with(mark.invocation.rawValue) { k in _ = try txn.delete(dbs.open, key: k) }
        }
        marks[id] = nil
        return gone.count
    }

    /// Makes stream `from`'s open marks stream `to`'s (both loaded): the `open` index
    /// keys them by invocation, which does not change, so only the events are rewritten.
    /// - Returns: how many moved.
    /// - Throws: ``PerfLogError/corrupt(what:)`` when one does not decode; `LMDBError`.
    mutating func moveOpenMarks(from: UInt32, to: UInt32) throws -> Int {
        let moving = try openMarks(of: from)
        for mark in moving { try put(mark, stream: to) }
        marks[to, default: []] += moving.map(\.seq)
        marks[from] = nil
        return moving.count
    }

    /// Stores `ring` as the record of stream `id`.
    /// - Throws: `LMDBError`.
    mutating func store(_ ring: Ring, id: UInt32) throws {
        try txn.putRing(ring, id: id, in: dbs)
        rings[id] = ring
    }

    /// Deletes stream `id`'s record and its `names` entry (its events must be gone or
    /// moved already).
    /// - Throws: `LMDBError`.
    mutating func deleteRecord(of id: UInt32) throws {
        guard let ring = rings.removeValue(forKey: id) else { return }
        try Keys.with(id) { k in _ = try txn.delete(dbs.streams, key: k) }
        _ = try txn.delete(dbs.names, key: Keys.name(ring.summary.stream))
    }

    /// Finishes the edit: stores the garbage count, and takes a `seq` of its own (no
    /// event is stored under it), because "the log changed" is read as "its last `seq`
    /// moved" by the projection's checkpoint and by `project --watch`.
    /// - Throws: ``PerfLogError/corrupt(what:)`` when the counter is missing; `LMDBError`.
    func finish() throws {
        let seq: UInt64 = try txn.counter(.seq, in: dbs)
        try txn.putMeta(.seq, seq + 1, in: dbs.meta)
        try txn.putMeta(.garbage, garbage, in: dbs.meta)
    }
}
