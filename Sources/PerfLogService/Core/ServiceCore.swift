import NIOCore
import NIOPosix
import PerfLog
import Synchronization

/// What every connection of a service shares: the recorder, the intake, the limits,
/// the counters, and the open connections (to drain them on shutdown).
final class ServiceCore: Sendable {
    let log: EventLog
    /// Commits the events (the service's ``Recorder``).
    let sink: any EventSink
    let intake: Intake
    let limits: ServiceLimits
    let counters = AtomicServiceCounters()
    /// Runs projections (for `/streams` and `/metrics`) off the event loops.
    let pool: NIOThreadPool
    let stopping = Atomic<Bool>(false)
    /// HTTP connections open now (bounded by ``ServiceLimits/maxConnections`` too).
    let openHTTPConnections = Atomic<Int>(0)
    /// HTTP connections open per peer.
    let peers: PeerConnections
    /// The token `POST /events` must present; `nil`: HTTP takes no events.
    let httpToken: HTTPToken?
    /// How a PerfLogError reads in replies (``IngestService/Configuration/describe``).
    let describe: @Sendable (PerfLogError) -> String
    /// Each stream's exposition text between scrapes of `/metrics`.
    let metrics: MetricsCache

    private struct Connection {
        let channel: any Channel
        let drain: @Sendable () -> Void
    }

    private let connections = Mutex<[ObjectIdentifier: Connection]>([:])
    /// When the last connection closed (or the service started), on the monotonic
    /// clock: the start of the idle time that ``IngestService/Configuration/idleExit``
    /// bounds.
    private let quietSinceNs = Atomic<UInt64>(EventClock.monotonicNs())
    /// Events recorded by every connection and not yet settled.
    private let inFlight = Atomic<Int>(0)
    /// Connections that stopped reading because ``inFlight`` passed the total window:
    /// each is resumed (on its event loop) once it is back under.
    private let waitingForRoom = Mutex<[@Sendable () -> Void]>([])

    /// Why the last commit that held events failed, or `nil` when it succeeded: while
    /// it is set, `/healthz` says degraded.
    private let commitFailure = Mutex<String?>(nil)

    /// The reason commits are failing now, or `nil` when they are not.
    var degradedReason: String? { commitFailure.withLock { $0 } }

    /// Notes how a commit of `count` events went (on the recorder's writer thread, in
    /// commit order); an empty one says nothing about the log.
    func noteSettled(_ result: Result<Void, PerfLogError>, count: Int) {
        guard count > 0 else { return }
        switch result {
        case .success: commitFailure.withLock { if $0 != nil { $0 = nil } }
        case .failure(let error): commitFailure.withLock { $0 = "commits are failing: \(describe(error))" }
        }
    }

    /// Whether the connections together have ``ServiceLimits/totalWindow`` events in flight.
    var isOverTotalWindow: Bool { inFlight.load(ordering: .relaxed) >= limits.totalWindow }

    func recorded(_ count: Int) { inFlight.add(count, ordering: .relaxed) }

    /// `count` events settled: wakes the connections waiting for room if there is some.
    func settled(_ count: Int) {
        inFlight.subtract(count, ordering: .relaxed)
        resumeWaitingIfRoom()
    }

    /// Calls `resume` once the total in flight is under the window again.
    func waitForRoom(_ resume: @escaping @Sendable () -> Void) {
        waitingForRoom.withLock { $0.append(resume) }
        // Room may have come between the caller's check and the registration.
        resumeWaitingIfRoom()
    }

    private func resumeWaitingIfRoom() {
        guard !isOverTotalWindow else { return }
        let waiting = waitingForRoom.withLock { w in
            defer { w.removeAll() }
            return w
        }
        for resume in waiting { resume() }
    }

    /// - Parameters:
    ///   - pool: runs projections, off the event loops.
    ///   - lookups: runs the lookups of open marks in the log, off the event loops.
    ///   - describe: how a PerfLogError reads in replies.
    init(log: EventLog, sink: any EventSink, limits: ServiceLimits, pool: NIOThreadPool, lookups: NIOThreadPool,
         httpToken: HTTPToken? = nil, labels: MetricLabels = MetricLabels(),
         describe: @escaping @Sendable (PerfLogError) -> String = { $0.description }) {
        self.log = log
        metrics = MetricsCache(labels: labels)
        self.httpToken = httpToken
        self.describe = describe
        peers = PeerConnections(limit: limits.maxConnectionsPerPeer)
        self.sink = sink
        self.limits = limits
        self.pool = pool
        intake = Intake(marks: OpenMarks(capacity: limits.maxOpenMarks), log: log, maxLineBytes: limits.maxLineBytes,
                        lookups: lookups, describe: describe)
    }

    /// Tracks an open connection; `drain` (run on its event loop) makes it finish what
    /// it has in flight and close.
    func register(_ channel: any Channel, drain: @escaping @Sendable () -> Void) {
        connections.withLock { $0[ObjectIdentifier(channel)] = Connection(channel: channel, drain: drain) }
        // Accepted while the service was being stopped: drain it at once.
        if stopping.load(ordering: .acquiring) { channel.eventLoop.execute(drain) }
    }

    func unregister(_ channel: any Channel) {
        connections.withLock { open in
            open.removeValue(forKey: ObjectIdentifier(channel))
            if open.isEmpty { quietSinceNs.store(EventClock.monotonicNs(), ordering: .relaxed) }
        }
    }

    /// For how long, in nanoseconds, no connection has been open; `nil` while one is.
    var idleNs: UInt64? {
        // Read under the lock that `unregister` updates both under: never the count of
        // one moment with the time of another.
        connections.withLock { open in
            open.isEmpty ? EventClock.monotonicNs() &- quietSinceNs.load(ordering: .relaxed) : nil
        }
    }

    /// Asks every open connection to drain; returns when each is closed.
    func drainAll() -> [EventLoopFuture<Void>] {
        let open = connections.withLock { Array($0.values) }
        return open.map { c in
            c.channel.eventLoop.execute(c.drain)
            return c.channel.closeFuture
        }
    }

    /// Closes every connection still open, without waiting for anything.
    func closeAll() {
        for c in connections.withLock({ Array($0.values) }) { c.channel.close(promise: nil) }
    }
}
