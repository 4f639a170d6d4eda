/// The 64-bit FNV-1a hash (Fowler, Noll and Vo): small, fast, and fixed for good, which
/// matters because its values are stored. A projection checkpoint's key holds the hash
/// of the file's path, and an imported flat-array record's invocation id is the hash of
/// its fields: changing the algorithm would orphan every checkpoint and give records
/// already imported new ids. Not for secrets, nor against chosen collisions.
package struct FNV1a: Sendable {
    /// The hash of the bytes mixed in so far.
    package private(set) var value: UInt64 = 0xCBF2_9CE4_8422_2325

    /// A hash of no bytes yet.
    package init() {}

    /// Mixes in one byte.
    @inline(__always)
    package mutating func mix(_ byte: UInt8) {
        value = (value ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
    }

    /// Mixes in `bytes`, in order.
    @inline(__always)
    package mutating func mix(_ bytes: some Sequence<UInt8>) {
        for byte in bytes { mix(byte) }
    }

    /// Mixes in `v` as 8 little-endian bytes.
    package mutating func mix(littleEndian v: UInt64) {
        for shift in stride(from: 0, to: 64, by: 8) { mix(UInt8(truncatingIfNeeded: v >> UInt64(shift))) }
    }

    /// The hash of `bytes`.
    package static func hash(_ bytes: some Sequence<UInt8>) -> UInt64 {
        var h = FNV1a()
        h.mix(bytes)
        return h.value
    }
}
