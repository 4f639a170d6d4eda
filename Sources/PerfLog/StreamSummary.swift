/// The running totals of one stream over its retained window, updated in the same
/// transaction as the ring, so that count and mean are O(1) reads.
public struct StreamSummary: Hashable, Sendable {
    /// The (agent, CLI) pair.
    public var stream: StreamName
    /// Measures ever appended to the stream (the ring holds the newest `retain` of them).
    public var appended: UInt64
    /// Measures in the retained window.
    public var count: Int
    /// Measures in the window whose outcome is `failed`.
    public var failures: Int
    /// Sum of the durations of the window's successful measures, in nanoseconds.
    public var okTotalNs: UInt64
    /// Marks of this stream with no measure yet.
    public var inFlight: Int
    /// The `seq` of the stream's newest event (mark or measure); 0 when none.
    public var lastSeq: UInt64

    /// Successful measures in the window.
    public var okCount: Int { count - failures }

    /// Mean duration of the window's successful measures, in nanoseconds; `nil` when
    /// there are none.
    public var meanNs: Double? { okCount > 0 ? Double(okTotalNs) / Double(okCount) : nil }

    init(stream: StreamName) {
        self.stream = stream
        appended = 0
        count = 0
        failures = 0
        okTotalNs = 0
        inFlight = 0
        lastSeq = 0
    }

    mutating func add(_ e: Event) {
        count += 1
        if e.outcome == .failed { failures += 1 } else { okTotalNs &+= e.durationNs }
    }

    mutating func remove(_ e: Event) {
        count -= 1
        if e.outcome == .failed { failures -= 1 } else { okTotalNs &-= e.durationNs }
    }
}

/// Stored form of a summary (version 1): `u8 1 · string agent · string cli · varint
/// appended · varint count · varint failures · varint okTotalNs · varint inFlight ·
/// varint lastSeq`.
enum SummaryRecord {
    static func encode(_ s: StreamSummary) -> [UInt8] {
        var w = ByteWriter(capacity: 32 + s.stream.agent.utf8.count + s.stream.cli.utf8.count)
        w.u8(1)
        w.string(s.stream.agent)
        w.string(s.stream.cli)
        w.varint(s.appended)
        w.varint(UInt64(s.count))
        w.varint(UInt64(s.failures))
        w.varint(s.okTotalNs)
        w.varint(UInt64(s.inFlight))
        w.varint(s.lastSeq)
        return w.bytes
    }

    /// - Throws: ``PerfLogError/corrupt(what:)`` on malformed input or broken rules.
    static func decode(_ buffer: UnsafeRawBufferPointer) throws(PerfLogError) -> StreamSummary {
        var r = ByteReader(buffer, what: "stream summary")
        guard try r.u8() == 1 else { throw r.fail("unknown version") }
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
        guard count <= UInt64(Int32.max), failures <= count, inFlight <= UInt64(Int32.max) else {
            throw r.fail("counts out of range")
        }
        s.count = Int(count)
        s.failures = Int(failures)
        s.inFlight = Int(inFlight)
        guard r.isAtEnd else { throw r.fail("trailing bytes") }
        return s
    }
}

extension SummaryRecord {
    static func decode(_ bytes: [UInt8]) throws(PerfLogError) -> StreamSummary {
        try bytes.withUnsafeBytes { raw in Result { () throws(PerfLogError) in try decode(raw) } }.get()
    }
}
