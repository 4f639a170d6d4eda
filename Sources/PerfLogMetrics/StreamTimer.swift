import CoreMetrics
import PerfLog

/// The handler of a timer that names a stream: each duration becomes one measure.
final class StreamTimer: TimerHandler {
    /// What every measure of one timer shares, worked out once when the timer is made.
    struct Target: Sendable {
        var stream: StreamName
        var outcome: Outcome
        var meta: Metadata

        /// `nil` when the dimensions lack the agent or the CLI, or break a rule.
        init?(label: String, dimensions: [(String, String)], options: PerfLogMetricsFactory.Options) {
            var agent: String?, cli: String?, outcome = Outcome.ok
            var meta: [(String, String)] = []
            if let key = options.labelKey { meta.append((key, label)) }
            for (key, value) in dimensions {
                switch key {
                case options.agentDimension: agent = value
                case options.cliDimension: cli = value
                case options.outcomeDimension: outcome = value == "failed" ? .failed : .ok
                default: meta.append((key, value))
                }
            }
            guard let agent, let cli,
                  let stream = try? StreamName(agent: agent, cli: cli),
                  let meta = try? Metadata.validated(meta)
            else { return nil }
            self.stream = stream
            self.outcome = outcome
            self.meta = meta
        }
    }

    let recorder: PerfLog.Recorder
    let target: Target

    init(recorder: PerfLog.Recorder, target: Target) {
        self.recorder = recorder
        self.target = target
    }

    func recordNanoseconds(_ duration: Int64) {
        // A negative duration is the only thing record(_:duration:) refuses, and it is
        // no measure: dropping it is the documented behaviour.
        _ = try? recorder.record(target.stream, duration: .nanoseconds(duration), outcome: target.outcome, meta: target.meta)
    }
}
