import Glibc

/// Finding line feeds, the end of every line of NDJSON and of the socket protocol.
package enum LineFeed {
    /// The offset of the first line feed (`\n`) in `bytes[from..<to]`, or nil when there is none.
    ///
    /// `memchr`, not a byte loop: line feeds are looked for in every byte that comes in,
    /// and the C library's search reads a machine word or a vector at a time.
    @inline(__always)
    package static func first(in bytes: UnsafeRawBufferPointer, from: Int, to: Int) -> Int? {
        guard from < to, let base = bytes.baseAddress,
              let hit = memchr(base + from, Int32(UInt8(ascii: "\n")), to - from)
        else { return nil }
        return base.distance(to: UnsafeRawPointer(hit))
    }

    /// ``first(in:from:to:)`` up to the end of `bytes`.
    @inline(__always)
    package static func first(in bytes: UnsafeRawBufferPointer, from: Int = 0) -> Int? {
        first(in: bytes, from: from, to: bytes.count)
    }
}
