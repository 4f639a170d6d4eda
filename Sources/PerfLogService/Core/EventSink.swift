import PerfLog

/// Where a service's sessions hand the events they take: a ``Recorder`` (its group
/// commit), or, in the handlers' tests, one that settles at once.
protocol EventSink: Sendable {
    /// Records `events` as one batch; `whenSettled` runs once they are committed (or
    /// their commit failed), in recording order, on any thread.
    func record(contentsOf events: [Event], whenSettled: @escaping @Sendable (Result<Void, PerfLogError>) -> Void)
    /// Measures settled without being stored because their ring held them already.
    var duplicates: UInt64 { get }
}

extension Recorder: EventSink {
    var duplicates: UInt64 { counters.duplicates }
}
