import LMDB
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A consistent snapshot of the log, valid inside ``EventLog/read(_:)``.
public struct LogReader {
    let txn: Transaction
    let log: EventLog
    /// The databases and ring size of the environment `txn` belongs to, read once.
    let dbs: EventLog.Databases
    let retain: Int

    init(txn: Transaction, log: EventLog) {
        self.txn = txn
        self.log = log
        dbs = log.dbs
        retain = log.retain
    }

    /// Runs `body`, the work of a public method, turning what it throws into a
    /// PerfLogError: LMDB's report of a damaged page as ``PerfLogError/corrupt(what:)``
    /// (which ``EventLog/read(_:)`` records as the log's damage, as it does LMDB's own
    /// report), any other LMDB failure as `storage` while reading the log.
    func typed<R>(_ body: () throws -> R) throws(PerfLogError) -> R {
        do { return try body() } catch {
            if error is LMDBError, let what = EventLog.damage(in: error) { throw .corrupt(what: what) }
            throw .from(error, operation: "reading the log")
        }
    }

    /// The `seq` of the last commit (0 for an empty log).
    /// - Throws: ``PerfLogError``.
    public func lastSeq() throws(PerfLogError) -> UInt64 {
        try typed { try storedLastSeq() }
    }

    /// The schema the log is written in: ``EventLog/schemaVersion``, or an older one
    /// when a log of an older schema is read without being upgraded.
    /// - Throws: ``PerfLogError``.
    public func schemaVersion() throws(PerfLogError) -> UInt32 {
        try typed { try storedSchema() }
    }

    /// The bounds of the log's duration histogram (a log of schema 1, read without
    /// being upgraded, has none: the standard ones it will get).
    /// - Throws: ``PerfLogError``.
    public func bucketBounds() throws(PerfLogError) -> BucketBounds {
        try typed { try txn.bucketBounds(in: dbs.meta) ?? .standard }
    }

    func storedSchema() throws -> UInt32 {
        guard let schema = try txn.meta(.schema, as: UInt32.self, in: dbs.meta) else {
            throw PerfLogError.corrupt(what: "the schema version is missing")
        }
        return schema
    }

    /// ``lastSeq()``, throwing LMDB's errors as they are.
    func storedLastSeq() throws -> UInt64 {
        guard let seq = try txn.meta(.seq, as: UInt64.self, in: dbs.meta) else {
            throw PerfLogError.corrupt(what: "the seq counter is missing")
        }
        return seq
    }

    /// Every stream's ring with its id, in id order.
    func ringsByID() throws -> [(id: UInt32, ring: Ring)] {
        try txn.withCursor(dbs.streams) { c in
            var out: [(UInt32, Ring)] = []
            var entries = try c.entries()
            while let (k, v) = try entries.next() {
                guard let id = Keys.streamID(k) else { throw PerfLogError.corrupt(what: "stream key of \(k.count) bytes") }
                out.append((id, try RingRecord.decode(v, retain: retain)))
            }
            return out
        }
    }

    /// The summaries of the streams `filter` keeps, ordered by agent then CLI.
    /// - Throws: ``PerfLogError``.
    public func streams(_ filter: StreamFilter = StreamFilter()) throws(PerfLogError) -> [StreamSummary] {
        if let agent = filter.agent, let cli = filter.cli {
            guard let name = try? StreamName(agent: agent, cli: cli) else { return [] }
            return try summary(name).map { [$0] } ?? []
        }
        let all: [StreamSummary] = try typed { try txn.withCursor(dbs.streams) { c in
            var out: [StreamSummary] = []
            var entries = try c.entries()
            while let (_, v) = try entries.next() {
                let s = try RingRecord.decodeSummary(v)
                if filter.matches(s.stream) { out.append(s) }
            }
            return out
        } }
        return all.sorted { $0.stream < $1.stream }
    }

    /// The id of `stream`, or `nil` when it has no events.
    func streamID(_ stream: StreamName) throws -> UInt32? {
        try txn.streamID(of: stream, in: dbs)
    }

    func ring(id: UInt32) throws -> Ring {
        let raw = try Keys.with(id) { k in try txn.value(in: dbs.streams, forKey: k) }
        guard let raw else { throw PerfLogError.corrupt(what: "the record of stream \(id) is missing") }
        return try RingRecord.decode(raw, retain: retain)
    }

    /// The summary of `stream` (an O(1) read), or `nil` when it has no events.
    /// - Throws: ``PerfLogError``.
    public func summary(_ stream: StreamName) throws(PerfLogError) -> StreamSummary? {
        try typed {
            guard let id = try streamID(stream) else { return nil }
            let raw = try Keys.with(id) { k in try txn.value(in: dbs.streams, forKey: k) }
            guard let raw else { throw PerfLogError.corrupt(what: "the record of \(stream) is missing") }
            return try RingRecord.decodeSummary(raw)
        }
    }

    /// The retained measures of `stream`, oldest first.
    /// - Throws: ``PerfLogError``.
    public func ring(_ stream: StreamName) throws(PerfLogError) -> [Event] {
        try typed {
            guard let id = try streamID(stream) else { return [] }
            return try events(of: id, ring: try ring(id: id))
        }
    }

    /// The measures a ring points to, oldest first.
    func events(of id: UInt32, ring: Ring) throws -> [Event] {
        try ring.ordered(retain: retain).map { seq in
            let raw = try Keys.with(seq) { k in try txn.value(in: dbs.events, forKey: k) }
            guard let raw, StoredEvent.stream(raw) == id, StoredEvent.isMeasure(raw) else {
                throw PerfLogError.corrupt(what: "measure \(seq) of \(ring.summary.stream) is missing")
            }
            let e = try EventRecord.decode(StoredEvent.record(raw), stream: ring.summary.stream)
            guard e.seq == seq else { throw PerfLogError.corrupt(what: "event \(seq) records seq \(e.seq)") }
            return e
        }
    }

    /// Every open mark (invocation in flight) of the streams `filter` keeps, in `seq` order.
    /// - Throws: ``PerfLogError``.
    public func openMarks(_ filter: StreamFilter = StreamFilter()) throws(PerfLogError) -> [Event] {
        try typed {
            var rings = RingCache(reader: self)
            var marks: [Event] = []
            for (_, id, record) in try openMarkRecords().sorted(by: { $0.seq < $1.seq }) {
                let stream = try rings.ring(id).summary.stream
                if filter.matches(stream) { marks.append(try EventRecord.decode(record, stream: stream)) }
            }
            return marks
        }
    }

    /// Every open mark's `seq`, stream id and stored record, in invocation order: the
    /// `open` index read whole, each mark looked up in the timeline.
    /// - Throws: ``PerfLogError/corrupt(what:)`` when a mark is missing or malformed.
    func openMarkRecords() throws -> [(seq: UInt64, stream: UInt32, record: UnsafeRawBufferPointer)] {
        let seqs: [UInt64] = try txn.withCursor(dbs.open) { c in
            var out: [UInt64] = []
            var entries = try c.entries()
            while let (_, v) = try entries.next() {
                guard let seq = Keys.seq(v) else { throw PerfLogError.corrupt(what: "open mark of \(v.count) bytes") }
                out.append(seq)
            }
            return out
        }
        return try seqs.map { seq in
            let raw = try Keys.with(seq) { k in try txn.value(in: dbs.events, forKey: k) }
            guard let raw, let id = StoredEvent.stream(raw), !StoredEvent.isMeasure(raw) else {
                throw PerfLogError.corrupt(what: "open mark \(seq) is missing")
            }
            return (seq, id, StoredEvent.record(raw))
        }
    }

    /// Retained events and open marks with `seq` greater than `seq`, oldest first, at
    /// most `limit` of them, of the streams `filter` keeps.
    /// - Throws: ``PerfLogError``.
    public func timeline(
        after seq: UInt64 = 0, limit: Int = .max, _ filter: StreamFilter = StreamFilter()
    ) throws(PerfLogError) -> [Event] {
        guard seq < .max else { return [] }
        var rings = RingCache(reader: self)
        return try typed { try txn.withCursor(dbs.events) { c in
            var out: [Event] = []
            var entries = try Keys.with(seq + 1) { k in try c.entries(atOrAfter: k) }
            while let (k, v) = try entries.next(), out.count < limit {
                if let e = try resolve(k, v, filter: filter, rings: &rings) { out.append(e) }
            }
            return out
        } }
    }

    /// The newest `count` events of the streams `filter` keeps, oldest first.
    /// - Parameter timeRange: only events whose wall-clock time (a measure's end, a
    ///   mark's start) is in it count; the newest `count` of those are returned, however
    ///   many newer events fall outside it.
    /// - Throws: ``PerfLogError``.
    public func tail(
        _ count: Int, _ filter: StreamFilter = StreamFilter(), timeRange: TimeRange = TimeRange()
    ) throws(PerfLogError) -> [Event] {
        guard count > 0 else { return [] }
        var rings = RingCache(reader: self)
        return try typed { try txn.withCursor(dbs.events) { c in
            var out: [Event] = []
            var entries = try c.entries(.backward)
            while let (k, v) = try entries.next(), out.count < count {
                if let e = try resolve(k, v, filter: filter, rings: &rings), timeRange.contains(e.wallTimeNs) { out.append(e) }
            }
            return out.reversed()
        } }
    }

    /// Facts about the log.
    /// - Parameters:
    ///   - now: the time to judge abandoned marks against, nanoseconds since the Unix
    ///     epoch.
    ///   - abandonAfter: how old an open mark must be, strictly, to count as abandoned.
    /// - Throws: ``PerfLogError``.
    public func info(now: Int64 = EventClock.wallNs(), abandonAfter: Duration = Statistics.defaultAbandonAfter) throws(PerfLogError) -> LogInfo {
        let summaries = try streams()
        var st = stat()
        let fileBytes = stat(log.path + "/data.mdb", &st) == 0 ? Int(st.st_size) : 0
        let cutoff = Statistics.abandonmentCutoff(now: now, abandonAfter: abandonAfter)
        return try typed {
            LogInfo(
                path: log.path, schemaVersion: try storedSchema(), retain: retain, streams: summaries.count,
                events: summaries.reduce(0) { $0 + $1.count },
                inFlight: try txn.statistics(dbs.open).entries,
                abandoned: try openMarkHeads().filter { $0.head.wallTimeNs < cutoff }.count,
                total: summaries.reduce(0) { $0 &+ $1.lifetime.total },
                totalFailures: summaries.reduce(0) { $0 &+ $1.lifetime.failed },
                lastSeq: try storedLastSeq(), fileBytes: fileBytes,
                mapBytes: log.environment.info.mapSize, lmdbVersion: Environment.libraryVersion)
        }
    }

    /// Turns a stored event into an `Event`, or `nil` when `filter` drops it or it is a
    /// measure already evicted from its ring (garbage not yet collected).
    func resolve(
        _ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, filter: StreamFilter, rings: inout RingCache
    ) throws -> Event? {
        guard let seq = Keys.seq(key) else { throw PerfLogError.corrupt(what: "event key of \(key.count) bytes") }
        guard let id = StoredEvent.stream(value) else { throw PerfLogError.corrupt(what: "event \(seq) is truncated") }
        let ring = try rings.ring(id)
        guard filter.matches(ring.summary.stream) else { return nil }
        if StoredEvent.isMeasure(value) && !ring.retains(seq, retain: retain) { return nil }
        let event = try EventRecord.decode(StoredEvent.record(value), stream: ring.summary.stream)
        guard event.seq == seq else { throw PerfLogError.corrupt(what: "event \(seq) records seq \(event.seq)") }
        return event
    }
}

/// Rings by stream id, read once per read transaction.
struct RingCache {
    let reader: LogReader
    var rings: [UInt32: Ring] = [:]

    init(reader: LogReader) { self.reader = reader }

    mutating func ring(_ id: UInt32) throws -> Ring {
        if let r = rings[id] { return r }
        let r = try reader.ring(id: id)
        rings[id] = r
        return r
    }
}

extension LogReader {
    /// The open mark (invocation in flight) with this invocation id, if the log has one.
    /// - Throws: ``PerfLogError``.
    public func openMark(_ invocation: InvocationID) throws(PerfLogError) -> Event? {
        try typed {
            let seq = try Keys.with(invocation.rawValue) { k in try txn.value(in: dbs.open, forKey: k) }
            guard let seq else { return nil }
            guard seq.count == 8 else { throw PerfLogError.corrupt(what: "open mark of \(seq.count) bytes") }
            let raw = try Keys.with(Keys.integer(seq)) { k in try txn.value(in: dbs.events, forKey: k) }
            guard let raw, let id = StoredEvent.stream(raw), !StoredEvent.isMeasure(raw) else {
                throw PerfLogError.corrupt(what: "open mark \(Keys.integer(seq)) is missing")
            }
            var rings = RingCache(reader: self)
            return try EventRecord.decode(StoredEvent.record(raw), stream: try rings.ring(id).summary.stream)
        }
    }
}
