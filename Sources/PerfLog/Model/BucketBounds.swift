/// The upper bounds of a log's duration histogram: each stream's lifetime counters count
/// its successful measures by the first bound they do not exceed, as Prometheus's `le`
/// buckets do, plus one bucket for those above every bound.
///
/// A log's bounds are chosen when it is created and stored in it: every stream of the
/// log, on every host that uses the same set, has the same buckets, so that histograms
/// add up across streams and hosts.
public struct BucketBounds: Hashable, Sendable {
    /// The bounds in nanoseconds, strictly increasing, none zero.
    public let nanoseconds: [UInt64]

    /// The most bounds a log may have.
    public static let maxCount = 64

    /// Bounds suited to agent invocations, from about 5 ms to an hour: 5, 10, 25, 50,
    /// 100, 250 and 500 ms; 1, 2.5, 5, 10, 30 s; 1, 2, 5, 10, 30 and 60 minutes.
    public static let standard = BucketBounds(checked: [
        5_000_000, 10_000_000, 25_000_000, 50_000_000, 100_000_000, 250_000_000, 500_000_000,
        1_000_000_000, 2_500_000_000, 5_000_000_000, 10_000_000_000, 30_000_000_000,
        60_000_000_000, 120_000_000_000, 300_000_000_000, 600_000_000_000, 1_800_000_000_000, 3_600_000_000_000,
    ])

    /// Bounds from `nanoseconds`.
    /// - Throws: ``PerfLogError/invalidInput(field:rule:)`` (field `buckets`) unless
    ///   there are 1 to ``maxCount`` bounds, each above zero and above the one before.
    public init(nanoseconds: [UInt64]) throws(PerfLogError) {
        guard !nanoseconds.isEmpty, nanoseconds.count <= BucketBounds.maxCount else {
            throw .invalidInput(field: "buckets", rule: "must have 1 to \(BucketBounds.maxCount) bounds")
        }
        guard nanoseconds[0] > 0, zip(nanoseconds, nanoseconds.dropFirst()).allSatisfy({ $0 < $1 }) else {
            throw .invalidInput(field: "buckets", rule: "bounds must be above zero and increasing")
        }
        self.nanoseconds = nanoseconds
    }

    private init(checked: [UInt64]) { nanoseconds = checked }

    /// How many buckets a histogram over these bounds has: one per bound, and the last
    /// for durations above them all (`le="+Inf"`).
    public var bucketCount: Int { nanoseconds.count + 1 }

    /// The bucket of a duration of `durationNs` nanoseconds: the first bound at or
    /// above it, else the last bucket.
    @inline(__always)
    func bucket(of durationNs: UInt64) -> Int {
        var low = 0, high = nanoseconds.count
        while low < high {
            let mid = (low + high) / 2
            if nanoseconds[mid] >= durationNs { high = mid } else { low = mid + 1 }
        }
        return low
    }
}
