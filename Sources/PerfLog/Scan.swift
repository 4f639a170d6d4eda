import LMDB

/// The fields of a stored event that statistics need, decoded without building an
/// ``Event`` (no names, no metadata, no allocation).
struct EventHead {
    /// The event's `seq`.
    var seq: UInt64
    /// Wall-clock time, nanoseconds since the Unix epoch.
    var wallTimeNs: Int64
    /// Duration in nanoseconds; 0 for a mark.
    var durationNs: UInt64
    /// Whether it is a measure (otherwise a mark).
    var isMeasure: Bool
    /// Whether the outcome is `failed`.
    var failed: Bool
}

extension EventRecord {
    /// Decodes the leading fields of a record (see ``EventRecord`` for the layout) and
    /// stops after the duration: the pid, exit code and metadata are not read.
    /// - Throws: ``PerfLogError/corrupt(what:)`` when the record is malformed.
    @inline(__always)
    static func decodeHead(_ buffer: UnsafeRawBufferPointer) throws(PerfLogError) -> EventHead {
        var r = ByteReader(buffer, what: "event record")
        let version = try r.u8()
        guard version == EventRecord.version else { throw r.fail("unknown version \(version)") }
        let flags = try r.u8()
        guard flags & ~0x0F == 0 else { throw r.fail("unknown flags") }
        let seq = try r.varint()
        let wall = try r.zigzag()
        guard buffer.count - r.offset >= 8 else { throw r.fail("truncated") }
        r.offset += 8  // the invocation id
        let isMeasure = flags & 1 != 0
        let duration = isMeasure ? try r.varint() : 0
        return EventHead(seq: seq, wallTimeNs: wall, durationNs: duration, isMeasure: isMeasure, failed: flags & 2 != 0)
    }
}

extension LogReader {
    /// Visits every stored event once, in `seq` order, with its `seq`, stream id and
    /// record: one sequential pass over the `events` database, which is far cheaper than
    /// looking each retained measure up by key. The caller must skip evicted measures
    /// still stored above the collection mark (a measure is retained iff its ring
    /// ``Ring/retains(_:retain:)`` it).
    /// - Throws: ``PerfLogError/corrupt(what:)`` for a malformed key or value, LMDB
    ///   errors, or whatever `body` throws.
    func scanEvents(_ body: (UInt64, UInt32, UnsafeRawBufferPointer) throws -> Void) throws {
        try txn.withCursor(dbs.events) { c in
            var entry = try c.first()
            while let (k, v) = entry {
                guard k.count == 8 else { throw PerfLogError.corrupt(what: "event key of \(k.count) bytes") }
                let seq = Keys.integer(k)
                guard let id = StoredEvent.stream(v) else { throw PerfLogError.corrupt(what: "event \(seq) is truncated") }
                try body(seq, id, StoredEvent.record(v))
                entry = try c.next()
            }
        }
    }

    /// Every open mark as (stream id, head), in no particular order: reads the `open`
    /// database (only invocations in flight) and looks each mark up.
    /// - Throws: ``PerfLogError/corrupt(what:)`` when a mark is missing or malformed.
    func openMarkHeads() throws -> [(stream: UInt32, head: EventHead)] {
        try openMarkRecords().map { ($0.stream, try EventRecord.decodeHead($0.record)) }
    }
}
