/// The stored form of one event, without its stream's names (the key or the record it
/// sits under implies them). Version 1 layout:
///
/// ```
/// u8 version (1) · u8 flags (bit0 measure, bit1 failed, bit2 exit code, bit3 meta,
///                            bit4 signal)
/// varint seq · zigzag wall ns · u64 invocation · [varint duration ns] · zigzag pid
/// [zigzag exit code] · [zigzag signal] · [varint n, n × (string key, string value)]
/// ```
///
/// The signal bit came with schema 3. A record without it is laid out exactly as
/// before, so the records of older logs stay valid as they are; but a perflog of
/// schema 2 refuses the bit ("unknown flags"), which is why a log that may hold it has
/// the newer schema.
enum EventRecord {
    static let version: UInt8 = 1
    /// Every flag bit a record may have; any other is refused.
    static let knownFlags: UInt8 = 0x1F

    static func encode(_ e: Event, into w: inout ByteWriter) {
        var flags: UInt8 = e.kind == .measure ? 1 : 0
        if e.outcome == .failed { flags |= 2 }
        if e.exitCode != nil { flags |= 4 }
        if !e.meta.isEmpty { flags |= 8 }
        if e.signal != nil { flags |= 16 }
        w.u8(version)
        w.u8(flags)
        w.varint(e.seq)
        w.zigzag(e.wallTimeNs)
        w.u64(e.invocation.rawValue)
        if e.kind == .measure { w.varint(e.durationNs) }
        w.zigzag(Int64(e.pid))
        if let code = e.exitCode { w.zigzag(Int64(code)) }
        if let signal = e.signal { w.zigzag(Int64(signal)) }
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
        guard flags & ~knownFlags == 0 else { throw r.fail("unknown flags") }
        let kind: Event.Kind = flags & 1 != 0 ? .measure : .mark
        let seq = try r.varint()
        let wall = try r.zigzag()
        let invocation = InvocationID(rawValue: try r.u64())
        let duration = kind == .measure ? try r.varint() : 0
        let pid = try r.int32()
        let exitCode: Int32? = flags & 4 != 0 ? try r.int32() : nil
        let signal: Int32? = flags & 16 != 0 ? try r.int32() : nil
        if let signal {
            // perflog writes a signal only on a failed measure without an exit code.
            guard signal >= 1 && signal <= Event.maxSignal else { throw r.fail("signal \(signal)") }
            guard kind == .measure && flags & 2 != 0 && exitCode == nil else {
                throw r.fail("a signal on a mark, an ok measure or with an exit code")
            }
        }
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
                     signal: signal, pid: pid, meta: meta)
    }
}

extension EventRecord {
    /// Decodes a record held in an array.
    static func decode(_ bytes: [UInt8], stream: StreamName) throws(PerfLogError) -> Event {
        try bytes.withUnsafeBytes { raw in Result { () throws(PerfLogError) in try decode(raw, stream: stream) } }.get()
    }
}
