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

    mutating func string(max: Int) throws(PerfLogError) -> String {
        let n = try varint()
        guard n <= UInt64(max), Int(n) <= buffer.count - offset else { throw fail("string length \(n) out of bounds") }
        let slice = UnsafeRawBufferPointer(rebasing: buffer[offset..<(offset + Int(n))])
        offset += Int(n)
        guard let s = String(validating: slice, as: UTF8.self) else { throw fail("invalid UTF-8") }
        return s
    }
}

/// The stored form of one event, without its stream's names (the key or the record it
/// sits under implies them). Version 1 layout:
///
/// ```
/// u8 version (1) · u8 flags (bit0 measure, bit1 failed, bit2 exit code, bit3 meta)
/// varint seq · zigzag wall ns · u64 invocation · [varint duration ns] · zigzag pid
/// [zigzag exit code] · [varint n, n × (string key, string value)]
/// ```
enum EventRecord {
    static let version: UInt8 = 1

    static func encode(_ e: Event, into w: inout ByteWriter) {
        var flags: UInt8 = e.kind == .measure ? 1 : 0
        if e.outcome == .failed { flags |= 2 }
        if e.exitCode != nil { flags |= 4 }
        if !e.meta.isEmpty { flags |= 8 }
        w.u8(version)
        w.u8(flags)
        w.varint(e.seq)
        w.zigzag(e.wallTimeNs)
        w.u64(e.invocation.rawValue)
        if e.kind == .measure { w.varint(e.durationNs) }
        w.zigzag(Int64(e.pid))
        if let code = e.exitCode { w.zigzag(Int64(code)) }
        if !e.meta.isEmpty {
            w.varint(UInt64(e.meta.count))
            for (k, v) in e.meta {
                w.string(k)
                w.string(v)
            }
        }
    }

    static func encode(_ e: Event) -> [UInt8] {
        var w = ByteWriter()
        encode(e, into: &w)
        return w.bytes
    }

    /// Decodes one record; `stream` supplies the names.
    /// - Throws: ``PerfLogError/corrupt(what:)`` on any malformed input.
    static func decode(_ buffer: UnsafeRawBufferPointer, stream: StreamName) throws(PerfLogError) -> Event {
        var r = ByteReader(buffer, what: "event record")
        let version = try r.u8()
        guard version == EventRecord.version else { throw r.fail("unknown version \(version)") }
        let flags = try r.u8()
        guard flags & ~0x0F == 0 else { throw r.fail("unknown flags") }
        let kind: Event.Kind = flags & 1 != 0 ? .measure : .mark
        let seq = try r.varint()
        let wall = try r.zigzag()
        let invocation = InvocationID(rawValue: try r.u64())
        let duration = kind == .measure ? try r.varint() : 0
        let pid = try r.int32()
        let exitCode: Int32? = flags & 4 != 0 ? try r.int32() : nil
        var meta = Metadata()
        if flags & 8 != 0 {
            let n = try r.varint()
            guard n >= 1 && n <= UInt64(Metadata.maxEntries) else { throw r.fail("metadata count \(n)") }
            for _ in 0..<n {
                let k = try r.string(max: Metadata.maxKeyBytes)
                let v = try r.string(max: Metadata.maxValueBytes)
                meta[k] = v
            }
        }
        guard r.isAtEnd else { throw r.fail("trailing bytes") }
        return Event(seq: seq, kind: kind, stream: stream, invocation: invocation, wallTimeNs: wall,
                     durationNs: duration, outcome: flags & 2 != 0 ? .failed : .ok, exitCode: exitCode,
                     pid: pid, meta: meta)
    }
}

extension EventRecord {
    /// Decodes a record held in an array.
    static func decode(_ bytes: [UInt8], stream: StreamName) throws(PerfLogError) -> Event {
        try bytes.withUnsafeBytes { raw in Result { () throws(PerfLogError) in try decode(raw, stream: stream) } }.get()
    }
}
