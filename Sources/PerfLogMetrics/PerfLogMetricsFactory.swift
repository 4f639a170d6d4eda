import CoreMetrics
import PerfLog

/// A swift-metrics backend that records timers as perflog measures.
///
/// ```swift
/// let recorder = try Recorder(path: ".planning/metrics/perflog")
/// MetricsSystem.bootstrap(PerfLogMetricsFactory(recorder: recorder))
///
/// Timer(label: "agent.invocation", dimensions: [("agent", "planner"), ("cli", "claude")])
///     .recordNanoseconds(812_413_000)
/// ```
///
/// A `Timer` whose dimensions name an agent and a CLI (the dimensions
/// ``Options/agentDimension`` and ``Options/cliDimension``, `agent` and `cli` by
/// default) records each duration as one measure of that stream through the recorder,
/// without waiting on the disk. The timer's other dimensions become the measure's
/// metadata, and its label is kept under ``Options/labelKey`` (`metric`), unless
/// that is `nil`; a dimension named ``Options/outcomeDimension`` (`outcome`) with the
/// value `failed` records the measure as failed.
///
/// Everything else is passed to `fallback` when one is given, and otherwise ignored:
/// counters, meters, recorders, and timers that lack either stream dimension or whose
/// names or metadata break perflog's rules (a name over 128 bytes, a control
/// character, more than 16 metadata entries). perflog keeps durations per stream, not
/// general metrics; a program that also wants its counters exported passes its
/// Prometheus or StatsD factory as the fallback.
///
/// Negative durations are not measures and are dropped. Failures to store come out
/// of the recorder as they do for any recording: counted in
/// ``PerfLog/Recorder/Counters/lost`` and logged, never thrown into the measured program.
public struct PerfLogMetricsFactory: MetricsFactory {
    /// How timers map to streams.
    public struct Options: Sendable {
        /// The dimension that names the agent.
        public var agentDimension = "agent"
        /// The dimension that names the CLI.
        public var cliDimension = "cli"
        /// The dimension whose value `failed` marks a measure as failed (`nil`: every
        /// measure is ok, and the dimension is kept as metadata like any other).
        public var outcomeDimension: String? = "outcome"
        /// The metadata key that keeps the timer's label (`nil`: the label is not kept).
        public var labelKey: String? = "metric"

        /// The default mapping: dimensions `agent`, `cli` and `outcome`, label as `metric`.
        public init() {}
    }

    /// The recorder the measures go to.
    public let recorder: PerfLog.Recorder
    /// The mapping of dimensions.
    public let options: Options
    /// What every metric perflog does not take is handed to; `nil` ignores them.
    public let fallback: (any MetricsFactory)?

    /// Creates a backend recording through `recorder`.
    /// - Parameters:
    ///   - recorder: where measures go; the caller keeps it open (and closes it at exit
    ///     to commit what is buffered).
    ///   - options: the dimension names.
    ///   - fallback: the factory for every other metric, or `nil` to ignore them.
    public init(recorder: PerfLog.Recorder, options: Options = Options(), fallback: (any MetricsFactory)? = nil) {
        self.recorder = recorder
        self.options = options
        self.fallback = fallback
    }

    /// A timer that records measures, when its dimensions name a valid stream;
    /// otherwise the fallback's timer, or one that ignores what it is given.
    public func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        if let target = StreamTimer.Target(label: label, dimensions: dimensions, options: options) {
            return StreamTimer(recorder: recorder, target: target)
        }
        return fallback?.makeTimer(label: label, dimensions: dimensions) ?? NOOPMetricsHandler.instance
    }

    /// Releases a timer: the fallback's, when it made it.
    public func destroyTimer(_ handler: any TimerHandler) {
        if !(handler is StreamTimer) { fallback?.destroyTimer(handler) }
    }

    /// The fallback's counter, or one that ignores what it is given.
    public func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        fallback?.makeCounter(label: label, dimensions: dimensions) ?? NOOPMetricsHandler.instance
    }

    /// The fallback's floating-point counter, or one that ignores what it is given.
    public func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        fallback?.makeFloatingPointCounter(label: label, dimensions: dimensions) ?? NOOPMetricsHandler.instance
    }

    /// The fallback's meter, or one that ignores what it is given.
    public func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        fallback?.makeMeter(label: label, dimensions: dimensions) ?? NOOPMetricsHandler.instance
    }

    /// The fallback's recorder (a swift-metrics recorder, not perflog's), or one that
    /// ignores what it is given.
    public func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        fallback?.makeRecorder(label: label, dimensions: dimensions, aggregate: aggregate) ?? NOOPMetricsHandler.instance
    }

    /// Releases a counter made by the fallback.
    public func destroyCounter(_ handler: any CounterHandler) { fallback?.destroyCounter(handler) }

    /// Releases a floating-point counter made by the fallback.
    public func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {
        fallback?.destroyFloatingPointCounter(handler)
    }

    /// Releases a meter made by the fallback.
    public func destroyMeter(_ handler: any MeterHandler) { fallback?.destroyMeter(handler) }

    /// Releases a recorder made by the fallback.
    public func destroyRecorder(_ handler: any RecorderHandler) { fallback?.destroyRecorder(handler) }
}
