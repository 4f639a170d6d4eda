/// Key layouts. Integers in keys are big-endian so that LMDB's byte order is numeric
/// order: a stream's ring slots are adjacent, the timeline is in `seq` order.
enum Keys {
    static func u32(_ v: UInt32) -> [UInt8] {
        [UInt8(truncatingIfNeeded: v >> 24), UInt8(truncatingIfNeeded: v >> 16),
         UInt8(truncatingIfNeeded: v >> 8), UInt8(truncatingIfNeeded: v)]
    }

    static func u64(_ v: UInt64) -> [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: v >> (56 - 8 * $0)) }
    }

    static func readU32(_ b: UnsafeRawBufferPointer, at offset: Int = 0) -> UInt32 {
        (0..<4).reduce(0) { $0 << 8 | UInt32(b[offset + $1]) }
    }

    static func readU64(_ b: UnsafeRawBufferPointer, at offset: Int = 0) -> UInt64 {
        (0..<8).reduce(0) { $0 << 8 | UInt64(b[offset + $1]) }
    }

    /// `names`: agent bytes, 0x00, cli bytes (names hold no control characters, so the
    /// separator is unambiguous).
    static func name(_ s: StreamName) -> [UInt8] {
        Array(s.agent.utf8) + [0] + Array(s.cli.utf8)
    }

    /// `rings`: stream id, slot.
    static func ring(_ stream: UInt32, _ slot: UInt32) -> [UInt8] { u32(stream) + u32(slot) }
}

/// A timeline value: what the event at a `seq` is and where its record lives.
/// Layout: `u8 kind (0 mark, 1 measure) · u32 stream (BE) · u64 ref (BE)`, where `ref`
/// is the ring slot of a measure or the invocation of a mark.
struct TimelineEntry: Hashable {
    var kind: Event.Kind
    var stream: UInt32
    var ref: UInt64

    var bytes: [UInt8] { [kind == .mark ? 0 : 1] + Keys.u32(stream) + Keys.u64(ref) }

    init(kind: Event.Kind, stream: UInt32, ref: UInt64) {
        self.kind = kind
        self.stream = stream
        self.ref = ref
    }

    init(_ b: UnsafeRawBufferPointer) throws(PerfLogError) {
        guard b.count == 13, b[0] <= 1 else { throw .corrupt(what: "timeline entry of \(b.count) bytes") }
        kind = b[0] == 0 ? .mark : .measure
        stream = Keys.readU32(b, at: 1)
        ref = Keys.readU64(b, at: 5)
    }
}
