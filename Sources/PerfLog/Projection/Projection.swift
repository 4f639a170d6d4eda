/// One retained measure as the projection lists it.
public struct RetainedMeasure: Sendable, Hashable {
    /// The (agent, CLI) pair.
    public var stream: StreamName
    /// The measure's `seq` (commit order).
    public var seq: UInt64
    /// Wall-clock end time, nanoseconds since the Unix epoch.
    public var wallTimeNs: Int64
    /// Duration, nanoseconds.
    public var durationNs: UInt64
    /// How the invocation ended.
    public var outcome: Outcome
    /// The index of ``stream`` in the projection's streams when the projector made this
    /// value (-1 otherwise): rendering finds the stream's quoted names without hashing.
    /// Not part of the value: equality and hashing ignore it.
    var streamIndex: Int32 = -1

    /// Wraps the fields.
    public init(stream: StreamName, seq: UInt64, wallTimeNs: Int64, durationNs: UInt64, outcome: Outcome) {
        self.stream = stream
        self.seq = seq
        self.wallTimeNs = wallTimeNs
        self.durationNs = durationNs
        self.outcome = outcome
    }

    /// Equal when every public field is.
    public static func == (a: RetainedMeasure, b: RetainedMeasure) -> Bool {
        a.seq == b.seq && a.wallTimeNs == b.wallTimeNs && a.durationNs == b.durationNs && a.outcome == b.outcome
            && a.stream == b.stream
    }

    /// Hashes every public field.
    public func hash(into h: inout Hasher) {
        h.combine(stream)
        h.combine(seq)
        h.combine(wallTimeNs)
        h.combine(durationNs)
        h.combine(outcome)
    }
}

/// How the CLIs of one agent compare: which is fastest and by how much.
public struct Comparison: Sendable, Hashable {
    /// One CLI of the agent.
    public struct Entry: Sendable, Hashable {
        /// The CLI's name.
        public var cli: String
        /// Successful measures in its window.
        public var okCount: Int
        /// Mean successful duration, nanoseconds; `nil` when it has no successful measure.
        public var meanNs: Double?
        /// Its mean divided by the fastest CLI's mean (1 for the fastest); `nil` without
        /// a mean, or when the fastest mean is 0 and this one is not.
        public var relative: Double?
        /// Standard error of ``relative``, propagated from the standard errors of both
        /// means (first-order: σ_r = r·√((σ₁/m₁)² + (σ₂/m₂)²) with σ = s/√n); 0 for the
        /// fastest itself; `nil` when ``relative`` is, or either side has fewer than two
        /// successful measures.
        public var relativeUncertainty: Double?
        /// Two-sided p-value of Welch's t-test of this CLI's durations against the
        /// fastest's: small means the difference is unlikely to be chance. `nil` for the
        /// fastest itself and when the test is undefined (a side with fewer than two
        /// successful measures, or both without variance).
        public var pValue: Double?
    }

    /// The agent.
    public var agent: String
    /// The CLI with the lowest mean (compared at the microsecond, ties broken by name);
    /// `nil` when none of the agent's CLIs has a successful measure.
    public var fastestCli: String?
    /// Every CLI of the agent: those with a mean fastest first (ties by name, byte-wise),
    /// then those without one by name.
    public var byCli: [Entry]
}

/// The derived view of a log: per-stream statistics, per-agent comparisons and every
/// retained measure. What `agent-performance.json` holds (see ``jsonBytes``).
public struct Projection: Sendable, Hashable {
    /// Wall-clock time of the newest event the projection covers (highest `seq`: a
    /// retained measure or an open mark), nanoseconds since the Unix epoch; 0 when it
    /// covers none. Derived from the log, never from the clock, so that projecting the
    /// same log twice gives the same bytes.
    public var generatedAtNs: Int64
    /// The log's ring size.
    public var retain: Int
    /// The log's last committed `seq` when the projection was made.
    public var lastSeq: UInt64
    /// Per stream, ordered by agent then CLI (byte-wise).
    public var streams: [StreamStatistics]
    /// Per agent (in the same order), the comparison of its CLIs.
    public var comparisons: [Comparison]
    /// Every retained measure of the covered streams, ordered by wall-clock time, then
    /// `seq`; empty when ``Projector/Options/measurements`` is off.
    public var measurements: [RetainedMeasure]
    /// The log's histogram bounds, for the exposition of the streams' lifetime
    /// histograms.
    public var bucketBounds: BucketBounds = .standard
}
