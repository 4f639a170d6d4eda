import LMDB
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Selects streams by agent and/or CLI; `nil` matches any.
public struct StreamFilter: Sendable, Hashable {
    /// The agent to keep, or `nil` for every agent.
    public var agent: String?
    /// The CLI to keep, or `nil` for every CLI.
    public var cli: String?

    /// A filter; with no arguments it keeps everything.
    public init(agent: String? = nil, cli: String? = nil) {
        self.agent = agent
        self.cli = cli
    }

    /// Whether `stream` is kept.
    public func matches(_ stream: StreamName) -> Bool {
        (agent == nil || agent == stream.agent) && (cli == nil || cli == stream.cli)
    }

    /// Whether the filter keeps everything.
    public var isEmpty: Bool { agent == nil && cli == nil }
}

/// Facts about a log, as `perflog info` shows them.
public struct LogInfo: Sendable, Hashable {
    /// The log's directory.
    public var path: String
    /// The schema version stored in the log.
    public var schemaVersion: UInt32
    /// The ring size.
    public var retain: Int
    /// Number of streams.
    public var streams: Int
    /// Retained measures over all streams.
    public var events: Int
    /// Open marks over all streams.
    public var inFlight: Int
    /// The last committed `seq`.
    public var lastSeq: UInt64
    /// Size of `data.mdb` in bytes.
    public var fileBytes: Int
    /// The LMDB map size in bytes.
    public var mapBytes: Int
    /// The LMDB library version.
    public var lmdbVersion: String
}

/// A consistent snapshot of the log, valid inside ``EventLog/read(_:)``.
public struct LogReader {
    let txn: Transaction
    let log: EventLog
    private var dbs: EventLog.Databases { log.dbs }

    init(txn: Transaction, log: EventLog) {
        self.txn = txn
        self.log = log
    }

    /// The `seq` of the last commit (0 for an empty log).
    /// - Throws: ``PerfLogError``.
    public func lastSeq() throws -> UInt64 {
        guard let raw = try txn.value(in: dbs.meta, forKey: Array("seq".utf8)), raw.count == 8 else {
            throw PerfLogError.corrupt(what: "the seq counter is missing")
        }
        return raw.withUnsafeBytes { Keys.readU64($0) }
    }

    /// Every stream's summary with its id, in id order.
    func summariesByID() throws -> [(id: UInt32, summary: StreamSummary)] {
        try txn.withCursor(dbs.summaries) { c in
            var out: [(UInt32, StreamSummary)] = []
            var entry = try c.first()
            while let (k, v) = entry {
                guard k.count == 4 else { throw PerfLogError.corrupt(what: "summary key of \(k.count) bytes") }
                out.append((Keys.readU32(k), try SummaryRecord.decode(v)))
                entry = try c.next()
            }
            return out
        }
    }

    /// The summaries of the streams `filter` keeps, ordered by agent then CLI.
    /// - Throws: ``PerfLogError``.
    public func streams(_ filter: StreamFilter = StreamFilter()) throws -> [StreamSummary] {
        if let agent = filter.agent, let cli = filter.cli {
            let name = try StreamName(agent: agent, cli: cli)
            return try summary(name).map { [$0] } ?? []
        }
        return try summariesByID().map(\.summary).filter { filter.matches($0.stream) }.sorted { $0.stream < $1.stream }
    }

    /// The id of `stream`, or `nil` when it has no events.
    func streamID(_ stream: StreamName) throws -> UInt32? {
        guard let raw = try txn.value(in: dbs.names, forKey: Keys.name(stream)) else { return nil }
        guard raw.count == 4 else { throw PerfLogError.corrupt(what: "stream id of \(stream)") }
        return raw.withUnsafeBytes { Keys.readU32($0) }
    }

    func summary(id: UInt32) throws -> StreamSummary {
        guard let raw = try txn.value(in: dbs.summaries, forKey: Keys.u32(id)) else {
            throw PerfLogError.corrupt(what: "the summary of stream \(id) is missing")
        }
        return try SummaryRecord.decode(raw)
    }

    /// The summary of `stream` (an O(1) read), or `nil` when it has no events.
    /// - Throws: ``PerfLogError``.
    public func summary(_ stream: StreamName) throws -> StreamSummary? {
        guard let id = try streamID(stream) else { return nil }
        return try summary(id: id)
    }

    /// The retained measures of `stream`, oldest first.
    /// - Throws: ``PerfLogError``.
    public func ring(_ stream: StreamName) throws -> [Event] {
        guard let id = try streamID(stream) else { return [] }
        return try ring(id: id, summary: try summary(id: id))
    }

    func ring(id: UInt32, summary: StreamSummary) throws -> [Event] {
        let retain = UInt64(log.retain)
        let start = summary.appended > retain ? summary.appended - retain : 0
        var out: [Event] = []
        out.reserveCapacity(Int(summary.appended - start))
        for n in start..<summary.appended {
            let slot = UInt32(n % retain)
            guard let raw = try txn.value(in: dbs.rings, forKey: Keys.ring(id, slot)) else {
                throw PerfLogError.corrupt(what: "ring slot \(slot) of \(summary.stream) is missing")
            }
            out.append(try EventRecord.decode(raw, stream: summary.stream))
        }
        return out
    }

    /// Every open mark (invocation in flight) of the streams `filter` keeps, in `seq` order.
    /// - Throws: ``PerfLogError``.
    public func openMarks(_ filter: StreamFilter = StreamFilter()) throws -> [Event] {
        var names = NameCache(reader: self)
        let marks: [Event] = try txn.withCursor(dbs.open) { c in
            var out: [Event] = []
            var entry = try c.first()
            while let (_, v) = entry {
                guard v.count > 4 else { throw PerfLogError.corrupt(what: "open mark of \(v.count) bytes") }
                let stream = try names.name(Keys.readU32(v))
                if filter.matches(stream) {
                    out.append(try EventRecord.decode(UnsafeRawBufferPointer(rebasing: v[4...]), stream: stream))
                }
                entry = try c.next()
            }
            return out
        }
        return marks.sorted { $0.seq < $1.seq }
    }

    /// Retained events and open marks with `seq` greater than `seq`, oldest first, at
    /// most `limit` of them, of the streams `filter` keeps.
    /// - Throws: ``PerfLogError``.
    public func timeline(after seq: UInt64 = 0, limit: Int = .max, _ filter: StreamFilter = StreamFilter()) throws -> [Event] {
        var names = NameCache(reader: self)
        return try txn.withCursor(dbs.timeline) { c in
            var out: [Event] = []
            var entry = try c.seek(Keys.u64(seq &+ 1))
            if seq == .max { entry = nil }
            while let (k, v) = entry, out.count < limit {
                if let e = try resolve(k, v, filter: filter, names: &names) { out.append(e) }
                entry = try c.next()
            }
            return out
        }
    }

    /// The newest `count` events of the streams `filter` keeps, oldest first.
    /// - Throws: ``PerfLogError``.
    public func tail(_ count: Int, _ filter: StreamFilter = StreamFilter()) throws -> [Event] {
        guard count > 0 else { return [] }
        var names = NameCache(reader: self)
        return try txn.withCursor(dbs.timeline) { c in
            var out: [Event] = []
            var entry = try c.last()
            while let (k, v) = entry, out.count < count {
                if let e = try resolve(k, v, filter: filter, names: &names) { out.append(e) }
                entry = try c.previous()
            }
            return out.reversed()
        }
    }

    /// Facts about the log.
    /// - Throws: ``PerfLogError``.
    public func info() throws -> LogInfo {
        let summaries = try summariesByID()
        var st = stat()
        let fileBytes = stat(log.path + "/data.mdb", &st) == 0 ? Int(st.st_size) : 0
        return LogInfo(
            path: log.path, schemaVersion: EventLog.schemaVersion, retain: log.retain, streams: summaries.count,
            events: summaries.reduce(0) { $0 + $1.summary.count },
            inFlight: try txn.statistics(dbs.open).entries, lastSeq: try lastSeq(), fileBytes: fileBytes,
            mapBytes: log.environment.info.mapSize, lmdbVersion: Environment.libraryVersion)
    }

    /// Turns a timeline entry into its event, or `nil` when `filter` drops it.
    private func resolve(
        _ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, filter: StreamFilter, names: inout NameCache
    ) throws -> Event? {
        guard key.count == 8 else { throw PerfLogError.corrupt(what: "timeline key of \(key.count) bytes") }
        let seq = Keys.readU64(key)
        let entry = try TimelineEntry(value)
        let stream = try names.name(entry.stream)
        guard filter.matches(stream) else { return nil }
        let event: Event
        switch entry.kind {
        case .measure:
            guard entry.ref < UInt64(log.retain),
                  let raw = try txn.value(in: dbs.rings, forKey: Keys.ring(entry.stream, UInt32(entry.ref)))
            else { throw PerfLogError.corrupt(what: "timeline entry \(seq) points to a missing ring slot") }
            event = try EventRecord.decode(raw, stream: stream)
        case .mark:
            guard let raw = try txn.value(in: dbs.open, forKey: Keys.u64(entry.ref)) else {
                throw PerfLogError.corrupt(what: "timeline entry \(seq) points to a missing open mark")
            }
            event = try EventRecord.decode(try EventRecord.splitOpenMark(raw).record, stream: stream)
        }
        guard event.seq == seq else {
            throw PerfLogError.corrupt(what: "timeline entry \(seq) points to event \(event.seq)")
        }
        return event
    }
}

/// Stream names by id, looked up once per read.
struct NameCache {
    let reader: LogReader
    var names: [UInt32: StreamName] = [:]

    init(reader: LogReader) { self.reader = reader }

    mutating func name(_ id: UInt32) throws -> StreamName {
        if let n = names[id] { return n }
        let n = try reader.summary(id: id).stream
        names[id] = n
        return n
    }
}
