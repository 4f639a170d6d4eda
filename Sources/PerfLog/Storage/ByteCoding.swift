/// Appends little-endian integers, LEB128 varints and length-prefixed strings.
struct ByteWriter {
    var bytes: [UInt8] = []

    init(capacity: Int = 64) { bytes.reserveCapacity(capacity) }

    mutating func u8(_ v: UInt8) { bytes.append(v) }

    mutating func u32(_ v: UInt32) {
        withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func u32be(_ v: UInt32) {
        withUnsafeBytes(of: v.bigEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func u64(_ v: UInt64) {
        withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
    }


    mutating func varint(_ v: UInt64) {
        var v = v
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    mutating func zigzag(_ v: Int64) { varint(UInt64(bitPattern: (v << 1) ^ (v >> 63))) }

    mutating func string(_ s: String) {
        varint(UInt64(s.utf8.count))
        bytes.append(contentsOf: s.utf8)
    }
}

/// Reads what ``ByteWriter`` wrote, checking every bound: malformed input throws
/// ``PerfLogError/corrupt(what:)``, never traps.
struct ByteReader {
    let buffer: UnsafeRawBufferPointer
    var offset = 0
    let what: StaticString

    init(_ buffer: UnsafeRawBufferPointer, what: StaticString) {
        self.buffer = buffer
        self.what = what
    }

    var isAtEnd: Bool { offset == buffer.count }

    func fail(_ reason: String) -> PerfLogError { .corrupt(what: "\(what): \(reason)") }

    mutating func u8() throws(PerfLogError) -> UInt8 {
        guard offset < buffer.count else { throw fail("truncated") }
        defer { offset += 1 }
        return buffer[offset]
    }

    mutating func u32() throws(PerfLogError) -> UInt32 {
        guard buffer.count - offset >= 4 else { throw fail("truncated") }
        var v: UInt32 = 0
        for i in 0..<4 { v |= UInt32(buffer[offset + i]) << (8 * i) }
        offset += 4
        return v
    }

    mutating func u64() throws(PerfLogError) -> UInt64 {
        guard buffer.count - offset >= 8 else { throw fail("truncated") }
        var v: UInt64 = 0
        for i in 0..<8 { v |= UInt64(buffer[offset + i]) << (8 * i) }
        offset += 8
        return v
    }

    mutating func varint() throws(PerfLogError) -> UInt64 {
        var v: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let b = try u8()
            if shift == 63 && b > 1 { throw fail("varint overflows 64 bits") }
            v |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { return v }
            shift += 7
            if shift > 63 { throw fail("varint too long") }
        }
    }

    mutating func zigzag() throws(PerfLogError) -> Int64 {
        let u = try varint()
        return Int64(bitPattern: (u >> 1) ^ (0 &- (u & 1)))
    }

    mutating func int32() throws(PerfLogError) -> Int32 {
        let v = try zigzag()
        guard let i = Int32(exactly: v) else { throw fail("value out of range") }
        return i
    }

    /// Steps over a string without reading it.
    mutating func skipString() throws(PerfLogError) {
        let n = try varint()
        guard Int(exactly: n).map({ $0 <= buffer.count - offset }) == true else { throw fail("string length \(n) out of bounds") }
        offset += Int(n)
    }

    mutating func string(max: Int) throws(PerfLogError) -> String {
        let n = try varint()
        guard n <= UInt64(max), Int(n) <= buffer.count - offset else { throw fail("string length \(n) out of bounds") }
        let slice = UnsafeRawBufferPointer(rebasing: buffer[offset..<(offset + Int(n))])
        offset += Int(n)
        guard let s = String(validating: slice, as: UTF8.self) else { throw fail("invalid UTF-8") }
        return s
    }
}
