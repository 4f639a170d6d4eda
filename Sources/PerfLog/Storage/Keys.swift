/// Key layouts. `events`, `open` and `streams` are `MDB_INTEGERKEY` databases: their keys
/// are native-endian integers that LMDB compares as numbers (cheaper than bytes), so
/// `events` is in `seq` order and appends go to its end. Integers in `meta` and `names`
/// values are big-endian.
enum Keys {
    static func u32(_ v: UInt32) -> [UInt8] {
        [UInt8(truncatingIfNeeded: v >> 24), UInt8(truncatingIfNeeded: v >> 16),
         UInt8(truncatingIfNeeded: v >> 8), UInt8(truncatingIfNeeded: v)]
    }

    static func u64(_ v: UInt64) -> [UInt8] {
        withUnsafeBytes(of: v.bigEndian) { Array($0) }
    }

    static func readU32(_ b: UnsafeRawBufferPointer, at offset: Int = 0) -> UInt32 {
        UInt32(bigEndian: b.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    static func readU64(_ b: UnsafeRawBufferPointer, at offset: Int = 0) -> UInt64 {
        UInt64(bigEndian: b.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    /// Runs `body` with the native 8-byte integer key (or value) `v`, without allocating.
    @inline(__always)
    static func with<R>(_ v: UInt64, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withUnsafeBytes(of: v, body)
    }

    /// Runs `body` with the native 4-byte integer key `v`, without allocating.
    @inline(__always)
    static func with<R>(_ v: UInt32, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withUnsafeBytes(of: v, body)
    }

    /// Reads a native 8-byte integer key or value; the caller checks the size.
    @inline(__always)
    static func integer(_ b: UnsafeRawBufferPointer) -> UInt64 { b.loadUnaligned(as: UInt64.self) }

    /// Reads a native 4-byte integer key; the caller checks the size.
    @inline(__always)
    static func integer32(_ b: UnsafeRawBufferPointer) -> UInt32 { b.loadUnaligned(as: UInt32.self) }

    /// The `seq` an `events` key or an `open` value holds, or `nil` when it is not 8 bytes.
    static func seq(_ b: UnsafeRawBufferPointer) -> UInt64? { b.count == 8 ? integer(b) : nil }

    /// The stream id a `streams` key holds, or `nil` when it is not 4 bytes.
    static func streamID(_ b: UnsafeRawBufferPointer) -> UInt32? { b.count == 4 ? integer32(b) : nil }

    /// The invocation and mark `seq` of an `open` entry, or `nil` when either is not 8 bytes.
    static func openMark(
        _ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer
    ) -> (invocation: UInt64, seq: UInt64)? {
        guard key.count == 8, value.count == 8 else { return nil }
        return (integer(key), integer(value))
    }

    /// `names`: agent bytes, 0x00, cli bytes (names hold no control characters, so the
    /// separator is unambiguous).
    static func name(_ s: StreamName) -> [UInt8] {
        Array(s.agent.utf8) + [0] + Array(s.cli.utf8)
    }
}
