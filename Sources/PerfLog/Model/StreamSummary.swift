/// The running totals of one stream over its retained window, and its lifetime
/// counters, updated in the same transaction as the ring, so that count and mean are
/// O(1) reads.
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
    /// Every measure since the counters started, not only the window's.
    public var lifetime: LifetimeCounters

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
        lifetime = LifetimeCounters(startedNs: 0, bucketCount: 0)
    }

    mutating func add(_ e: Event) { add(durationNs: e.durationNs, failed: e.outcome == .failed) }

    /// Counts a measure of `durationNs` nanoseconds that failed or not.
    mutating func add(durationNs: UInt64, failed: Bool) {
        count += 1
        if failed { failures += 1 } else { okTotalNs &+= durationNs }
    }

    mutating func remove(_ e: Event) {
        count -= 1
        if e.outcome == .failed { failures -= 1 } else { okTotalNs &-= e.durationNs }
    }
}

