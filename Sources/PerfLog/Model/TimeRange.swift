/// A span of wall-clock time: what `--since` and `--until` select.
///
/// The lower bound is inclusive and the upper bound exclusive, so that consecutive
/// ranges (`--until T` then `--since T`) split a log without counting an event twice.
public struct TimeRange: Sendable, Hashable {
    /// The earliest time kept, nanoseconds since the Unix epoch; `nil` for no lower bound.
    public var since: Int64?
    /// The first time no longer kept, nanoseconds since the Unix epoch; `nil` for no
    /// upper bound.
    public var until: Int64?

    /// A range; with no arguments it keeps every time.
    public init(since: Int64? = nil, until: Int64? = nil) {
        self.since = since
        self.until = until
    }

    /// Whether `wallTimeNs` (nanoseconds since the Unix epoch) is in the range.
    @inline(__always)
    public func contains(_ wallTimeNs: Int64) -> Bool {
        (since.map { wallTimeNs >= $0 } ?? true) && (until.map { wallTimeNs < $0 } ?? true)
    }

    /// Whether the range keeps every time.
    public var isUnbounded: Bool { since == nil && until == nil }
}
