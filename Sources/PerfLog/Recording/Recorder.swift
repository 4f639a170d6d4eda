import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Times invocations from inside a program and records them without waiting on the
/// disk: the library face of perflog.
///
/// Recording (``start(agent:cli:meta:)``, ``end(_:outcome:exitCode:)``,
/// ``record(agent:cli:duration:outcome:exitCode:meta:)``) validates the event, puts it
/// in a bounded in-memory buffer and returns. One writer thread commits the buffer in
/// batches (**group commit**): each batch is one write transaction, taking the
/// cross-process write lock once. ``flush()`` returns once everything recorded before
/// it is committed.
///
/// A storage failure never crashes or blocks the measured program: the failed batch
/// is counted (``Counters/lost``), logged through swift-log, and reported by the next
/// ``flush()`` or ``close()``.
///
/// While another process holds the log (stopped, say, in the middle of its commit),
/// recording goes on into the buffer, and each batch waits for the log's write lock
/// until its oldest event has waited the log's ``EventLog/waitLimit``; then the batch
/// fails as a storage failure does, with ``PerfLogError/busy(path:reason:)`` naming
/// the holder. So an event is committed or reported lost within about that limit of
/// its recording, and a backlog behind a stopped writer fails promptly instead of
/// waiting the limit once per batch. (Retrying would hold events the caller may
/// resend itself, and keep a full buffer blocking ``FullPolicy/wait`` callers.)
public final class Recorder: Sendable {
    /// What to do when the buffer is full.
    public enum FullPolicy: Sendable, Hashable {
        /// The recording call waits for the writer to make room (nothing is lost).
        case wait
        /// The event is dropped and counted in ``Counters/dropped``.
        case drop
    }

    /// How a recorder batches and buffers.
    public struct Options: Sendable {
        /// Events the buffer holds before recording waits or drops.
        public var bufferCapacity = 65_536
        /// The most events one commit takes.
        public var maxBatch = 16_384
        /// How long the writer lets a batch grow before committing it, unless the batch
        /// fills first. Zero, the default, is group commit with no wait: an idle writer
        /// commits what it has at once, and a batch grows only while the commit before it
        /// runs, so a batch is as large as the load makes it (up to ``maxBatch``) and a
        /// lone event waits for nothing but its own commit. A delay trades latency for
        /// fewer, larger commits.
        public var maxDelay: Duration = .zero
        /// What recording does when the buffer is full.
        public var whenFull: FullPolicy = .wait
        /// With ``EventLog/Durability/fast``, how often the writer flushes to disk.
        public var syncInterval: Duration = .seconds(1)
        /// Where failures are logged.
        public var logger = Logger(label: "perflog.recorder")
        /// When set, the writer regenerates `agent-performance.json` at this path after
        /// commits, once no commit has come for ``projectionDebounce`` (as the old
        /// tracker rewrote its file after each measurement, without the cost). A failure
        /// to write it is logged as a warning and counted, never a lost event.
        public var projectionPath: String?
        /// How long the writer waits after the last commit before regenerating the
        /// projection.
        public var projectionDebounce: Duration = .milliseconds(100)
        /// The longest the projection may lag behind the log while commits keep coming
        /// (so a steady stream of events does not put it off for ever).
        public var projectionMaxLag: Duration = .seconds(1)

        /// Whether a measure whose invocation its stream's ring holds already is taken
        /// as a retry: settled as recorded, not stored again (exactly-once for clients
        /// that resend what they did not see acknowledged); so is a mark of such an
        /// invocation, which stored again would stay open. Off by default: a program
        /// that reuses invocation ids on purpose would lose measures.
        public var skipsRetries = false

        /// Default options.
        public init() {}
    }

    /// Running totals since the recorder was created.
    public struct Counters: Sendable, Hashable {
        /// Events accepted into the buffer.
        public var recorded: UInt64 = 0
        /// Events committed to the log.
        public var committed: UInt64 = 0
        /// Events settled without being stored, as retries (``Options/skipsRetries``): measures,
        /// and marks, whose invocation's measure the ring holds already.
        public var duplicates: UInt64 = 0
        /// Events refused because the buffer was full (``FullPolicy/drop``) or the
        /// recorder was closed.
        public var dropped: UInt64 = 0
        /// Events lost because their commit failed.
        public var lost: UInt64 = 0
        /// Commits that failed.
        public var failedCommits: UInt64 = 0
        /// Commits that succeeded.
        public var commits: UInt64 = 0
        /// Recording calls that had to wait for room in a full buffer (``FullPolicy/wait``).
        public var waitedForRoom: UInt64 = 0
        /// Recording calls waiting for room right now.
        public var waitingForRoom: UInt64 = 0
        /// Times the projection (``Options/projectionPath``) was written.
        public var projectionsWritten: UInt64 = 0
        /// Times writing the projection failed.
        public var projectionFailures: UInt64 = 0
    }

    /// A started invocation: pass it to ``end(_:outcome:exitCode:)``.
    public struct Invocation: Sendable, Hashable {
        /// The stream it belongs to.
        public let stream: StreamName
        /// Its identifier (shared by its mark and its measure).
        public let id: InvocationID
        /// Monotonic start time in nanoseconds (``EventClock/monotonicNs()``).
        public let startNs: UInt64
        /// The metadata recorded with it.
        public let meta: Metadata
    }

    /// The log this recorder writes to.
    public let log: EventLog
    /// The options it was created with.
    public let options: Options

    private let core: Core
    private var monitor: Monitor<State> { core.monitor }
    private var work: Monitor<State>.Condition { core.work }
    private var progress: Monitor<State>.Condition { core.progress }
    private let pid = getpid()
    private let writer: WriterThread
    private let ids: InvocationIDs

    struct State {
        var buffer: [Event] = []
        var firstPendingNs: UInt64 = 0
        var writerIdle = false
        var flushRequested = false
        var closing = false
        var finished = false
        /// Events taken into the buffer (recorded) and settled (committed or lost).
        var counters = Counters()
        var settled: UInt64 = 0
        var unreportedError: PerfLogError?
        var observers: [UInt64: AsyncStream<Event>.Continuation] = [:]
        var nextObserver: UInt64 = 0
        /// Waiting ``Recorder/record(contentsOf:whenSettled:)`` callbacks, in the order of
        /// their events (so by `end` too).
        var settlement: [Settlement] = []
        var settlementHead = 0
    }

    /// A callback waiting for the events numbered `first..<end` (in recording order) to
    /// settle.
    struct Settlement {
        var first: UInt64
        var end: UInt64
        var failure: PerfLogError?
        var callback: @Sendable (Result<Void, PerfLogError>) -> Void
    }

    /// Starts a recorder on an open log.
    public init(log: EventLog, options: Options = Options()) {
        self.log = log
        self.options = options
        var seed = SystemRandomNumberGenerator()
        ids = InvocationIDs(seed: seed.next())
        var state = State()
        state.buffer.reserveCapacity(min(options.bufferCapacity, options.maxBatch))
        core = Core(log: log, options: options, state: state)
        writer = WriterThread()
        // The thread holds the core, not the recorder, so that dropping the last
        // reference to the recorder stops the writer (see deinit).
        writer.start { [core] in core.runWriter() }
    }

    /// Opens (creating if needed) the log at `path` and starts a recorder on it.
    /// - Throws: ``PerfLogError`` from opening the log.
    public convenience init(path: String, logOptions: EventLog.Options = EventLog.Options(), options: Options = Options()) throws(PerfLogError) {
        self.init(log: try EventLog(path: path, options: logOptions), options: options)
    }

    deinit {
        monitor.withLock { $0.closing = true }
        work.signal()
        writer.join()
    }

    // MARK: Recording

    /// Starts timing an invocation and records its mark.
    /// - Returns: the token to pass to ``end(_:outcome:exitCode:)``.
    /// - Throws: ``PerfLogError/invalidInput(field:rule:)`` for a bad name.
    public func start(agent: String, cli: String, meta: Metadata = Metadata()) throws(PerfLogError) -> Invocation {
        try start(StreamName(agent: agent, cli: cli), meta: meta)
    }

    /// Starts timing an invocation of `stream` and records its mark.
    public func start(_ stream: StreamName, meta: Metadata = Metadata()) -> Invocation {
        let wall = EventClock.wallNs()
        let id = ids.next()
        let start = EventClock.monotonicNs()
        enqueue(.mark(stream, invocation: id, wallTimeNs: wall, pid: pid, meta: meta))
        return Invocation(stream: stream, id: id, startNs: start, meta: meta)
    }

    /// Ends an invocation: records its measure with the time since ``start(agent:cli:meta:)``.
    /// - Returns: the measured duration.
    @discardableResult
    public func end(_ invocation: Invocation, outcome: Outcome = .ok, exitCode: Int32? = nil) -> Duration {
        let elapsed = EventClock.monotonicNs() &- invocation.startNs
        enqueue(.measure(invocation.stream, invocation: invocation.id, durationNs: elapsed, outcome: outcome,
                         exitCode: exitCode, wallTimeNs: EventClock.wallNs(), pid: pid, meta: invocation.meta))
        return .nanoseconds(Int64(clamping: elapsed))
    }

    /// Times `body` as one invocation: records `ok` when it returns and `failed` when it
    /// throws (and rethrows).
    /// - Throws: whatever `body` throws, or ``PerfLogError/invalidInput(field:rule:)``
    ///   for a bad name (then `body` does not run).
    public func measure<R>(
        agent: String, cli: String, meta: Metadata = Metadata(),
        isolation: isolated (any Actor)? = #isolation, _ body: () async throws -> R
    ) async throws -> R {
        let invocation = try start(agent: agent, cli: cli, meta: meta)
        do {
            let result = try await body()
            end(invocation, outcome: .ok)
            return result
        } catch {
            end(invocation, outcome: .failed)
            throw error
        }
    }

    /// Records a measure timed elsewhere.
    /// - Returns: the invocation id given to the measure.
    /// - Throws: ``PerfLogError/invalidInput(field:rule:)`` for a bad name or a
    ///   negative duration.
    @discardableResult
    public func record(
        agent: String, cli: String, duration: Duration, outcome: Outcome = .ok, exitCode: Int32? = nil,
        meta: Metadata = Metadata()
    ) throws(PerfLogError) -> InvocationID {
        try record(StreamName(agent: agent, cli: cli), duration: duration, outcome: outcome, exitCode: exitCode, meta: meta)
    }

    /// Records a prepared event as it is (a mark or a measure, its own wall time, pid
    /// and invocation): for events that arrive from elsewhere, such as another process.
    /// Its `seq` is ignored; the commit assigns it.
    public func record(_ event: Event) {
        enqueue(event)
    }

    /// Records a measure of `stream` timed elsewhere.
    /// - Returns: the invocation id given to the measure.
    /// - Throws: ``PerfLogError/invalidInput(field:rule:)`` for a negative duration.
    @discardableResult
    public func record(
        _ stream: StreamName, duration: Duration, outcome: Outcome = .ok, exitCode: Int32? = nil,
        meta: Metadata = Metadata()
    ) throws(PerfLogError) -> InvocationID {
        let (seconds, attoseconds) = duration.components
        guard seconds >= 0, attoseconds >= 0 else {
            throw .invalidInput(field: "duration", rule: "must not be negative")
        }
        let ns = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
        guard !ns.overflow else { throw .invalidInput(field: "duration", rule: "is too long") }
        let id = ids.next()
        enqueue(.measure(stream, invocation: id, durationNs: ns.partialValue &+ UInt64(attoseconds / 1_000_000_000),
                         outcome: outcome, exitCode: exitCode, wallTimeNs: EventClock.wallNs(), pid: pid, meta: meta))
        return id
    }

    /// Records prepared events together (as ``record(_:)`` does each) and calls
    /// `whenSettled` once all of them are committed, or with the error of a commit that
    /// lost any of them: a service acknowledges its clients from here.
    ///
    /// This never waits, and takes the events even when the buffer is full: the caller
    /// bounds how many it has waiting (a service stops reading from its clients). After
    /// ``close()``, nothing is recorded and `whenSettled` is called at once with
    /// ``PerfLogError/busy(path:reason:)``.
    ///
    /// `whenSettled` runs on the writer thread, after the commit and before the next:
    /// it must return quickly and must not record, flush or close.
    public func record(contentsOf events: [Event], whenSettled: @escaping @Sendable (Result<Void, PerfLogError>) -> Void) {
        let maxBatch = options.maxBatch
        var wake = false
        let accepted: Bool = monitor.withLock { s in
            if s.closing {
                s.counters.dropped += UInt64(events.count)
                return false
            }
            if s.buffer.isEmpty && !events.isEmpty { s.firstPendingNs = EventClock.monotonicNs() }
            let first = s.counters.recorded
            s.buffer.append(contentsOf: events)
            s.counters.recorded += UInt64(events.count)
            s.settlement.append(Settlement(first: first, end: s.counters.recorded, callback: whenSettled))
            wake = s.writerIdle || s.buffer.count >= maxBatch || events.isEmpty
            if events.isEmpty { s.flushRequested = true }
            return true
        }
        if !accepted {
            whenSettled(.failure(.busy(path: log.path, reason: "the recorder is closed")))
            return
        }
        if wake { work.signal() }
    }

    private func enqueue(_ event: Event) {
        let capacity = options.bufferCapacity, maxBatch = options.maxBatch
        var wake = false
        var full = false
        monitor.withLock { s in
            if s.closing {
                s.counters.dropped += 1
                return
            }
            if s.buffer.count >= capacity {
                full = true
                return
            }
            if s.buffer.isEmpty { s.firstPendingNs = EventClock.monotonicNs() }
            s.buffer.append(event)
            s.counters.recorded += 1
            wake = s.writerIdle || s.buffer.count == maxBatch
        }
        if wake { work.signal() }
        if full { enqueueWhenFull(event) }
    }

    private func enqueueWhenFull(_ event: Event) {
        if options.whenFull == .drop {
            monitor.withLock { $0.counters.dropped += 1 }
            return
        }
        monitor.withLock { s in
            s.counters.waitedForRoom += 1
            s.counters.waitingForRoom += 1
        }
        work.signal()
        var accepted = false
        monitor.wait(on: progress) { s in
            if s.closing { return true }
            if s.buffer.count < options.bufferCapacity {
                if s.buffer.isEmpty { s.firstPendingNs = EventClock.monotonicNs() }
                s.buffer.append(event)
                s.counters.recorded += 1
                accepted = true
                return true
            }
            return false
        }
        monitor.withLock { $0.counters.waitingForRoom -= 1 }
        if accepted { work.signal() }
    }

    // MARK: Reading

    /// The mean duration of the stream's successful retained measures, an O(1) read of
    /// its summary as of the last commit (call ``flush()`` first to include pending
    /// events); `nil` when there are none.
    /// - Throws: ``PerfLogError``.
    public func averageDuration(agent: String, cli: String) throws(PerfLogError) -> Duration? {
        guard let mean = try summary(agent: agent, cli: cli)?.meanNs else { return nil }
        return .nanoseconds(Int64(mean.rounded()))
    }

    /// The stream's summary as of the last commit, or `nil` when it has no events.
    /// - Throws: ``PerfLogError``.
    public func summary(agent: String, cli: String) throws(PerfLogError) -> StreamSummary? {
        let stream = try StreamName(agent: agent, cli: cli)
        return try log.read { try $0.summary(stream) }
    }

    /// Every committed event, as it is committed (the log's `seq` assigned), for as long
    /// as the sequence is iterated. A slow consumer keeps the newest `bufferSize` and
    /// misses older ones.
    public func events(bufferSize: Int = 10_000) -> AsyncStream<Event> {
        let (stream, continuation) = AsyncStream.makeStream(of: Event.self, bufferingPolicy: .bufferingNewest(bufferSize))
        let key: UInt64? = monitor.withLock { s in
            if s.finished { return nil }
            s.nextObserver += 1
            s.observers[s.nextObserver] = continuation
            return s.nextObserver
        }
        guard let key else {
            continuation.finish()
            return stream
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.monitor.withLock { $0.observers.removeValue(forKey: key) }
        }
        return stream
    }

    /// Running totals.
    public var counters: Counters { monitor.withLock { $0.counters } }

    // MARK: Flushing

    /// Returns once every event recorded before the call is committed (or lost to a
    /// failed commit). With ``EventLog/Durability/durable`` they are then on disk.
    /// - Throws: the first ``PerfLogError`` of a commit that failed since the last
    ///   report: the events of that commit are lost (see ``Counters/lost``).
    public func flush() throws(PerfLogError) {
        let target: UInt64 = monitor.withLock { s in
            s.flushRequested = true
            return s.counters.recorded
        }
        work.signal()
        monitor.wait(on: progress) { s in s.settled >= target || s.finished }
        let error: PerfLogError? = monitor.withLock { s in
            defer { s.unreportedError = nil }
            return s.unreportedError
        }
        if let error { throw error }
    }

    /// Flushes, stops the writer and, with ``EventLog/Durability/fast``, syncs the log.
    /// Events recorded after `close` are not written; they are counted in
    /// ``Counters/dropped``.
    /// - Throws: as ``flush()``.
    public func close() throws(PerfLogError) {
        let flushError: PerfLogError?
        do { try flush(); flushError = nil } catch { flushError = error }
        monitor.withLock { $0.closing = true }
        work.signal()
        writer.join()
        if let flushError { throw flushError }
    }
}
