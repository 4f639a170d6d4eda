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
    /// stops after the duration: the pid, exit code, signal and metadata are not read.
    /// - Throws: ``PerfLogError/corrupt(what:)`` when the record is malformed.
    @inline(__always)
    static func decodeHead(_ buffer: UnsafeRawBufferPointer) throws(PerfLogError) -> EventHead {
        var r = ByteReader(buffer, what: "event record")
        let version = try r.u8()
        guard version == EventRecord.version else { throw r.fail("unknown version \(version)") }
        let flags = try r.u8()
        guard flags & ~knownFlags == 0 else { throw r.fail("unknown flags") }
        let seq = try r.varint()
        let wall = try r.zigzag()
        guard buffer.count - r.offset >= 8 else { throw r.fail("truncated") }
        r.offset += 8  // the invocation id
        let isMeasure = flags & 1 != 0
        let duration = isMeasure ? try r.varint() : 0
        return EventHead(seq: seq, wallTimeNs: wall, durationNs: duration, isMeasure: isMeasure, failed: flags & 2 != 0)
    }
}
