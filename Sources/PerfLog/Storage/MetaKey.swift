import LMDB

/// The keys of the `meta` database. Integer values are big-endian, of the width the
/// case names; ``Transaction/meta(_:as:in:)`` and ``Transaction/putMeta(_:_:in:)`` read
/// and write them.
enum MetaKey: Hashable, Sendable {
    /// The schema version the log was written with (`UInt32`).
    case schema
    /// The ring size: measures kept per stream (`UInt32`).
    case retain
    /// The last committed `seq` (`UInt64`).
    case seq
    /// The last stream id given out (`UInt32`).
    case streams
    /// The collection mark: every event stored below this `seq` is live (`UInt64`; see
    /// ``AppendBatch``).
    case gc
    /// Evicted measures stored at or above `gc`, awaiting collection (`UInt64`).
    case garbage
    /// The bounds of the log's duration histogram (schema 2): `varint n · n × varint
    /// bound in nanoseconds`, increasing. A log of schema 1 has none.
    case buckets
    /// The checkpoint of the projection last written to the file at `canonicalPath`
    /// (a ``ProjectionCheckpoint`` record).
    case projected(canonicalPath: String)

    /// The log's counters: every key but projection checkpoints.
    static let counters: [MetaKey] = [.schema, .retain, .seq, .streams, .gc, .garbage]

    /// The key's bytes. A projection checkpoint's key is `projected/` and the path's
    /// 64-bit FNV-1a hash in hexadecimal: a key per output file, of bounded size
    /// whatever the path's length.
    var bytes: [UInt8] {
        switch self {
        case .schema: Array("schema".utf8)
        case .retain: Array("retain".utf8)
        case .seq: Array("seq".utf8)
        case .streams: Array("streams".utf8)
        case .gc: Array("gc".utf8)
        case .garbage: Array("garbage".utf8)
        case .buckets: Array("buckets".utf8)
        case .projected(let canonicalPath):
            Array(("projected/" + MetaKey.hexHash(canonicalPath)).utf8)
        }
    }

    /// The key's name in messages.
    var name: String { String(decoding: bytes, as: UTF8.self) }

    private static func hexHash(_ text: String) -> String {
        let hex = String(FNV1a.hash(text.utf8), radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}

extension Transaction {
    /// The integer stored under `key` in `meta`, or `nil` when there is none or it is
    /// not of `V`'s width.
    /// - Throws: `LMDBError` from `mdb_get`.
    func meta<V: FixedWidthInteger & UnsignedInteger>(_ key: MetaKey, as: V.Type = V.self, in meta: Database) throws(LMDBError) -> V? {
        let raw = try key.bytes.withUnsafeBytes { k in Result { () throws(LMDBError) in try value(in: meta, forKey: k) } }.get()
        guard let raw, raw.count == MemoryLayout<V>.size else { return nil }
        return V(bigEndian: raw.loadUnaligned(as: V.self))
    }

    /// Stores `value` under `key` in `meta`, big-endian.
    /// - Throws: `LMDBError` from `mdb_put`.
    func putMeta<V: FixedWidthInteger & UnsignedInteger>(_ key: MetaKey, _ value: V, in meta: Database) throws(LMDBError) {
        try put(meta, key: key.bytes, value: withUnsafeBytes(of: value.bigEndian) { Array($0) })
    }

    /// The log's histogram bounds, or `nil` when it has none (schema 1).
    /// - Throws: ``PerfLogError/corrupt(what:)`` when they do not decode; `LMDBError`.
    func bucketBounds(in meta: Database) throws -> BucketBounds? {
        guard let raw = try value(in: meta, forKey: MetaKey.buckets.bytes) else { return nil }
        return try raw.withUnsafeBytes { bytes throws -> BucketBounds in
            var r = ByteReader(bytes, what: "histogram bounds")
            let n = try r.varint()
            guard n >= 1, n <= UInt64(BucketBounds.maxCount) else { throw r.fail("\(n) bounds") }
            var bounds: [UInt64] = []
            for _ in 0..<Int(n) { bounds.append(try r.varint()) }
            guard r.isAtEnd else { throw r.fail("trailing bytes") }
            do { return try BucketBounds(nanoseconds: bounds) } catch { throw r.fail("bounds not increasing") }
        }
    }

    /// Stores the log's histogram bounds.
    /// - Throws: `LMDBError` from `mdb_put`.
    func putBucketBounds(_ bounds: BucketBounds, in meta: Database) throws(LMDBError) {
        var w = ByteWriter(capacity: 8 + bounds.nanoseconds.count * 6)
        w.varint(UInt64(bounds.nanoseconds.count))
        for b in bounds.nanoseconds { w.varint(b) }
        try put(meta, key: MetaKey.buckets.bytes, value: w.bytes)
    }

    /// The counter under `key` in the log's `meta`.
    /// - Throws: ``PerfLogError/corrupt(what:)`` when it is missing; `LMDBError`.
    func counter<V: FixedWidthInteger & UnsignedInteger>(_ key: MetaKey, as: V.Type = V.self, in dbs: EventLog.Databases) throws -> V {
        guard let v = try meta(key, as: V.self, in: dbs.meta) else {
            throw PerfLogError.corrupt(what: "meta value \(key.name) is missing")
        }
        return v
    }

    /// Every entry of `meta` that is not a counter (projection checkpoints), as stored.
    /// - Throws: `LMDBError`.
    func metaBesidesCounters(in dbs: EventLog.Databases) throws -> [(key: [UInt8], value: [UInt8])] {
        let counters = Set(MetaKey.counters.map(\.bytes))
        return try withCursor(dbs.meta) { c in
            var out: [(key: [UInt8], value: [UInt8])] = []
            var entries = try c.entries()
            while let (k, v) = try entries.next() {
                let key = Array(k)
                if !counters.contains(key) { out.append((key, Array(v))) }
            }
            return out
        }
    }
}
