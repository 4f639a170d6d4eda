import LMDB

/// Stored form of a ``Ring``. Version 2 (schema 2): `u8 2 · string agent · string cli ·
/// varint appended · varint count · varint failures · varint okTotalNs · varint inFlight
/// · varint lastSeq` (the window), `· varint ok · varint failed · varint okSumNs ·
/// zigzag startedNs · varint b · varint k · k × (varint gap · varint count)` (the lifetime
/// counters: `b` buckets, of which the `k` not empty are listed, each after `gap` empty
/// ones), `· varint n · varint slot[0] · (n − 1) × zigzag(slot[i] − slot[i−1])` (the
/// ring). Version 1 (schema 1) is the same without the lifetime counters; it is read,
/// never written.
///
/// The slots are stored as differences: consecutive measures of a stream are a few
/// thousand `seq`s apart, so a slot takes two or three bytes instead of eight, and a
/// commit that touches every stream rewrites a third as many pages.
enum RingRecord {
    /// The version this build writes.
    static let version: UInt8 = 2

    static func encode(_ ring: Ring, into w: inout ByteWriter) {
        let s = ring.summary
        w.u8(version)
        w.string(s.stream.agent)
        w.string(s.stream.cli)
        w.varint(s.appended)
        w.varint(UInt64(s.count))
        w.varint(UInt64(s.failures))
        w.varint(s.okTotalNs)
        w.varint(UInt64(s.inFlight))
        w.varint(s.lastSeq)
        let life = s.lifetime
        w.varint(life.ok)
        w.varint(life.failed)
        w.varint(life.okSumNs)
        w.zigzag(life.startedNs)
        // Sparse: a stream's durations fill few of the buckets, and every commit that
        // touches a stream rewrites its record.
        w.varint(UInt64(life.buckets.count))
        w.varint(UInt64(life.buckets.reduce(0) { $1 == 0 ? $0 : $0 + 1 }))
        var last = -1
        for (i, b) in life.buckets.enumerated() where b != 0 {
            w.varint(UInt64(i - last - 1))
            w.varint(b)
            last = i
        }
        w.varint(UInt64(ring.slots.count))
        var previous: UInt64 = 0
        for (i, seq) in ring.slots.enumerated() {
            if i == 0 { w.varint(seq) } else { w.zigzag(Int64(bitPattern: seq &- previous)) }
            previous = seq
        }
    }

    static func encode(_ ring: Ring) -> [UInt8] {
        var w = ByteWriter(capacity: 64 + ring.summary.lifetime.buckets.count * 2 + ring.slots.count * 3)
        encode(ring, into: &w)
        return w.bytes
    }

    /// Decodes the summary only, skipping the slots.
    /// - Throws: ``PerfLogError/corrupt(what:)`` on malformed input or broken rules.
    static func decodeSummary(_ buffer: UnsafeRawBufferPointer) throws(PerfLogError) -> StreamSummary {
        var r = ByteReader(buffer, what: "stream record")
        return try summary(&r)
    }

    /// The length of the record's summary (window totals and lifetime counters), which
    /// changes whenever the stream does: every append moves its newest `seq`.
    /// - Throws: ``PerfLogError/corrupt(what:)`` on malformed input.
    static func summaryLength(_ buffer: UnsafeRawBufferPointer) throws(PerfLogError) -> Int {
        // Stepped over, not decoded: a scrape asks this of every stream.
        var r = ByteReader(buffer, what: "stream record")
        let version = try r.u8()
        guard version == 1 || version == 2 else { throw r.fail("unknown version") }
        try r.skipString()
        try r.skipString()
        for _ in 0..<6 { _ = try r.varint() }
        if version == 2 {
            for _ in 0..<4 { _ = try r.varint() }
            let n = try r.varint()
            guard n <= UInt64(BucketBounds.maxCount + 1) else { throw r.fail("\(n) histogram buckets") }
            let filled = try r.varint()
            guard filled <= n else { throw r.fail("\(filled) of \(n) histogram buckets filled") }
            for _ in 0..<Int(filled) * 2 { _ = try r.varint() }
        }
        return r.offset
    }

    /// Decodes the summary and the slots, checking that the slot count fits `retain`.
    /// - Throws: ``PerfLogError/corrupt(what:)`` on malformed input or broken rules.
    static func decode(_ buffer: UnsafeRawBufferPointer, retain: Int) throws(PerfLogError) -> Ring {
        var r = ByteReader(buffer, what: "stream record")
        let s = try summary(&r)
        let n = try r.varint()
        guard n == min(s.appended, UInt64(retain)), n == UInt64(s.count) else {
            throw r.fail("ring holds \(n) slots for \(s.appended) appended and \(s.count) counted")
        }
        // Each slot takes at least a byte: a count the buffer cannot hold is damage.
        guard n <= UInt64(buffer.count - r.offset) else { throw r.fail("ring slots truncated") }
        var slots = [UInt64]()
        slots.reserveCapacity(Int(n))
        var seq: UInt64 = 0
        for i in 0..<Int(n) {
            seq = i == 0 ? try r.varint() : seq &+ UInt64(bitPattern: try r.zigzag())
            slots.append(seq)
        }
        guard r.isAtEnd else { throw r.fail("trailing bytes") }
        return Ring(summary: s, slots: slots)
    }

    static func decode(_ bytes: [UInt8], retain: Int) throws(PerfLogError) -> Ring {
        try bytes.withUnsafeBytes { raw in Result { () throws(PerfLogError) in try decode(raw, retain: retain) } }.get()
    }

    private static func summary(_ r: inout ByteReader) throws(PerfLogError) -> StreamSummary {
        let version = try r.u8()
        guard version == 1 || version == 2 else { throw r.fail("unknown version") }
        let agent = try r.string(max: StreamName.maxBytes)
        let cli = try r.string(max: StreamName.maxBytes)
        let stream: StreamName
        do { stream = try StreamName(agent: agent, cli: cli) } catch { throw r.fail("invalid stream name") }
        var s = StreamSummary(stream: stream)
        s.appended = try r.varint()
        let count = try r.varint(), failures = try r.varint()
        s.okTotalNs = try r.varint()
        let inFlight = try r.varint()
        s.lastSeq = try r.varint()
        guard count <= UInt64(EventLog.maxRetain), failures <= count, count <= s.appended, inFlight <= UInt64(Int32.max) else {
            throw r.fail("counts out of range")
        }
        s.count = Int(count)
        s.failures = Int(failures)
        s.inFlight = Int(inFlight)
        if version == 1 {
            // Until its log is upgraded, the window is all that is known.
            s.lifetime = LifetimeCounters(ok: count - failures, failed: failures, okSumNs: s.okTotalNs, buckets: [], startedNs: 0)
            return s
        }
        let ok = try r.varint(), failed = try r.varint(), okSumNs = try r.varint()
        let startedNs = try r.zigzag()
        let n = try r.varint()
        guard n <= UInt64(BucketBounds.maxCount + 1) else { throw r.fail("\(n) histogram buckets") }
        var buckets = [UInt64](repeating: 0, count: Int(n))
        let filled = try r.varint()
        guard filled <= n else { throw r.fail("\(filled) of \(n) histogram buckets filled") }
        var index = -1
        for _ in 0..<Int(filled) {
            let gap = try r.varint()
            guard gap < n, index + 1 + Int(gap) < Int(n) else { throw r.fail("histogram bucket out of range") }
            index += 1 + Int(gap)
            buckets[index] = try r.varint()
        }
        // Whether the counters agree with the window and the histogram with the count
        // is `check`'s to say (and repair's to mend): a record that reads is kept.
        s.lifetime = LifetimeCounters(ok: ok, failed: failed, okSumNs: okSumNs, buckets: buckets, startedNs: startedNs)
        return s
    }
}

extension EventLog {
    /// Stores a stream's record.
    func put(_ ring: Ring, id: UInt32, txn: Transaction, dbs: Databases) throws {
        try txn.putRing(ring, id: id, in: dbs)
    }
}

extension Transaction {
    /// Stores the record of stream `id`.
    /// - Throws: `LMDBError` from `mdb_put`.
    func putRing(_ ring: Ring, id: UInt32, in dbs: EventLog.Databases) throws {
        let bytes = RingRecord.encode(ring)
        try Keys.with(id) { k in try bytes.withUnsafeBytes { v in try put(dbs.streams, key: k, value: v) } }
    }

    /// What the measure `seq` of `stream` adds to counters: its duration and whether it
    /// failed; nil when no event is stored at `seq`, or it is a mark.
    /// - Throws: ``PerfLogError/corrupt(what:)`` when it does not decode; `LMDBError`.
    func measureCounted(_ seq: UInt64, stream: StreamName, in dbs: EventLog.Databases) throws -> (durationNs: UInt64, failed: Bool)? {
        guard let raw = try Keys.with(seq, { k in try value(in: dbs.events, forKey: k) }), StoredEvent.isMeasure(raw) else { return nil }
        let e = try EventRecord.decode(StoredEvent.record(raw), stream: stream)
        return (e.durationNs, e.outcome == .failed)
    }

    /// The id of the stream `name` in `names`, or `nil` when it has none.
    /// - Throws: ``PerfLogError/corrupt(what:)`` when the stored id is malformed; `LMDBError`.
    func streamID(of name: StreamName, in dbs: EventLog.Databases) throws -> UInt32? {
        guard let raw = try value(in: dbs.names, forKey: Keys.name(name)) else { return nil }
        guard raw.count == 4 else { throw PerfLogError.corrupt(what: "stream id of \(name)") }
        return raw.withUnsafeBytes { Keys.readU32($0) }
    }

    /// Stores `id` as the id of the stream `name` in `names`.
    /// - Throws: `LMDBError` from `mdb_put`.
    func putStreamID(_ id: UInt32, of name: StreamName, in dbs: EventLog.Databases) throws(LMDBError) {
        try put(dbs.names, key: Keys.name(name), value: Keys.u32(id))
    }
}
