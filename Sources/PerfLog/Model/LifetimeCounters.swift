/// What a stream has counted since its counters started: every measure recorded, not
/// only those its window still holds.
///
/// They change in the same transaction as the ring and only grow: compaction,
/// `--retain` changes, restarts, repair and imports keep or add to them. Where they
/// must be rebuilt (a log upgraded from schema 1 starts them from its window), their
/// start time is the time of the rebuild, so that Prometheus sees a counter reset and
/// not a lie.
public struct LifetimeCounters: Hashable, Sendable {
    /// Successful measures.
    public var ok: UInt64
    /// Failed measures.
    public var failed: UInt64
    /// Sum of the durations of the successful measures, in nanoseconds.
    public var okSumNs: UInt64
    /// Successful measures by bucket of the log's ``BucketBounds``, not cumulative:
    /// `buckets[i]` counts durations above bound `i − 1` and at most bound `i`; the last
    /// counts those above every bound. Empty when not known: a schema-1 log read
    /// without being upgraded has no histogram.
    public var buckets: [UInt64]
    /// When the counters started, in nanoseconds since the Unix epoch (UTC); 0 when not
    /// known (a schema-1 log read without being upgraded).
    public var startedNs: Int64

    /// Every measure counted, successful or failed.
    public var total: UInt64 { ok &+ failed }

    /// Counters that start at `startedNs` from nothing, with `bucketCount` buckets.
    init(startedNs: Int64, bucketCount: Int) {
        ok = 0
        failed = 0
        okSumNs = 0
        buckets = Array(repeating: 0, count: bucketCount)
        self.startedNs = startedNs
    }

    init(ok: UInt64, failed: UInt64, okSumNs: UInt64, buckets: [UInt64], startedNs: Int64) {
        self.ok = ok
        self.failed = failed
        self.okSumNs = okSumNs
        self.buckets = buckets
        self.startedNs = startedNs
    }

    /// Counts a measure of `durationNs` nanoseconds that failed or not, in the bucket
    /// of `bounds`.
    @inline(__always)
    mutating func add(durationNs: UInt64, failed isFailure: Bool, bounds: BucketBounds) {
        if isFailure {
            failed &+= 1
            return
        }
        ok &+= 1
        okSumNs &+= durationNs
        if buckets.count != bounds.bucketCount {
            // Never for a record of this schema; a histogram that is not known is not
            // made up, only started.
            buckets = Array(repeating: 0, count: bounds.bucketCount)
        }
        buckets[bounds.bucket(of: durationNs)] &+= 1
    }

    /// Adds the counters of another stream of the same log (one merged into this one):
    /// each count and sum, bucket by bucket, and the earlier start, since the merged
    /// counters count from when the older of the two began.
    mutating func merge(_ other: LifetimeCounters) {
        ok &+= other.ok
        failed &+= other.failed
        okSumNs &+= other.okSumNs
        // One log has one set of bounds, so the histograms line up; one that is not
        // known (a schema-1 record) adds nothing of its own.
        if buckets.isEmpty {
            buckets = other.buckets
        } else if other.buckets.count == buckets.count {
            for i in buckets.indices { buckets[i] &+= other.buckets[i] }
        }
        // 0 means "not known": it gives way to a known start.
        if startedNs == 0 || (other.startedNs != 0 && other.startedNs < startedNs) { startedNs = other.startedNs }
    }

    /// The counts of the histogram cumulated, as Prometheus's `le` buckets read: entry
    /// `i` counts the successful measures of at most bound `i`; the last is ``ok``.
    public var cumulativeBuckets: [UInt64] {
        var running: UInt64 = 0
        return buckets.map { running &+= $0; return running }
    }

    /// Whether these counters can be true of a stream whose window is `window`, in a
    /// log whose histogram has `bounds`: at least the window's measures of each outcome,
    /// a bucket per bound and one more, and as many in the buckets as ok measures.
    func holds(window: StreamSummary, bounds: BucketBounds) -> Bool {
        ok >= UInt64(window.okCount) && failed >= UInt64(window.failures) && okSumNs >= window.okTotalNs
            && buckets.count == bounds.bucketCount && buckets.reduce(0, &+) == ok
    }
}
