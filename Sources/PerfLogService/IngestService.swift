import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import PerfLog
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A long-running ingest service: takes events as NDJSON lines over a Unix socket (and
/// optionally HTTP on a loopback address), commits them through one ``Recorder``'s
/// group commit, and acknowledges each client once its events are committed.
///
/// ```swift
/// let service = try IngestService(log: log, configuration: .init(socketPath: "/tmp/perflog.sock"))
/// // … service.shutdown() from a signal handler thread …
/// let totals = try service.waitUntilStopped()
/// ```
///
/// **The socket protocol.** A client writes lines (``IncomingEvent`` says which are
/// valid); a line counts once its line feed arrives. The service answers with lines:
/// - `{"line":N,"field":"durationMs","error":"…"}` for a line that broke a rule (no
///   `field` when the line as a whole is bad: not JSON, too long, cut off);
/// - `{"ack":N}` once every line up to N is handled: each one that got no error reply
///   is committed to the log.
///
/// Replies come in line order, and a bad line never costs the connection or the valid
/// lines beside it.
public final class IngestService: Sendable {
    /// How a service listens and what it accepts.
    public struct Configuration: Sendable {
        /// The Unix socket's path.
        public var socketPath: String
        /// Where HTTP listens, if anywhere.
        public var http: HTTPAddress?
        /// The token HTTP clients must present to `POST /events`; without one, HTTP
        /// serves only its reading routes and answers `POST /events` 403.
        public var httpToken: HTTPToken?
        /// Line, request, connection and window bounds.
        public var limits = ServiceLimits()
        /// The recorder's batching; by default it skips retries
        /// (``Recorder/Options/skipsRetries``), so that a client may resend what it did
        /// not see acknowledged.
        public var recorder: Recorder.Options = {
            var options = Recorder.Options()
            options.skipsRetries = true
            return options
        }()
        /// Event-loop threads; default: one per core.
        public var threads = System.coreCount
        /// How a ``PerfLogError`` reads in replies (a line's `not stored: …`, HTTP's
        /// `error`, `/healthz`): by default its description; `perflog serve` adds the
        /// command that helps, as its own messages do.
        public var describe: @Sendable (PerfLogError) -> String = { $0.description }
        /// Constant labels on every series of `GET /metrics` (`--label k=v`).
        public var labels = MetricLabels()
        /// Stop gracefully once no connection (socket or HTTP) has been open for this
        /// long; `nil`: run until ``IngestService/shutdown()``. For services that
        /// clients start on demand (`perflog serve --idle-exit`).
        public var idleExit: Duration?

        /// A service on `socketPath`, and on `http` when given.
        public init(socketPath: String, http: HTTPAddress? = nil) {
            self.socketPath = socketPath
            self.http = http
        }
    }

    /// The socket's path.
    public let socketPath: String
    /// Where HTTP listens (with the port the system chose, if 0 was asked for).
    public let httpAddress: HTTPAddress?

    private let core: ServiceCore
    private let recorder: Recorder
    private let lookups: NIOThreadPool
    private let group: MultiThreadedEventLoopGroup
    private let listeners: [any Channel]
    private let socketIdentity: SocketFile.Identity?
    /// Holds the socket path's lock (``SocketFile/lock(_:)``) until the service stops.
    private let socketLock: Int32
    private let drained: EventLoopPromise<Void>
    private let finished = Mutex<ServiceCounters?>(nil)
    private let idleExitWatch = Mutex<RepeatedTask?>(nil)
    private let stoppedForIdleness = Atomic<Bool>(false)

    /// Whether the service stopped because it was idle for
    /// ``Configuration/idleExit`` (rather than by ``shutdown()``).
    public var stoppedIdle: Bool { stoppedForIdleness.load(ordering: .acquiring) }

    /// Starts a service on an open log: binds the socket (mode 0600) and HTTP, and
    /// starts accepting.
    /// - Throws: ``ServiceError`` when the socket or the HTTP address cannot be bound.
    public init(log: EventLog, configuration: Configuration) throws(ServiceError) {
        let path = configuration.socketPath
        let socketLock = try SocketFile.prepare(path)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, configuration.threads))
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        let lookups = NIOThreadPool(numberOfThreads: 1)
        lookups.start()
        let recorder = Recorder(log: log, options: configuration.recorder)
        let core = ServiceCore(log: log, sink: recorder, limits: configuration.limits, pool: pool, lookups: lookups,
                               httpToken: configuration.httpToken, labels: configuration.labels,
                               describe: configuration.describe)
        var listeners: [any Channel] = []
        func abandon() {
            for l in listeners { try? l.close().wait() }
            close(socketLock)
            try? recorder.close()
            try? pool.syncShutdownGracefully()
            try? lookups.syncShutdownGracefully()
            try? group.syncShutdownGracefully()
        }

        let seeds = Atomic<UInt64>(UInt64(truncatingIfNeeded: EventClock.wallNs()))
        let lines = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let seed = seeds.wrappingAdd(SplitMix64.increment, ordering: .relaxed).newValue
                    let decoder = LineFrameDecoder(maxLineBytes: core.limits.maxLineBytes)
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(decoder))
                    try channel.pipeline.syncOperations.addHandler(LineSession(core: core, seed: seed))
                }
            }
        let socketFD: Int32, createdSocket: SocketFile.Identity?
        do { (socketFD, createdSocket) = try SocketFile.bind(path) } catch {
            abandon()
            throw error
        }
        do {
            listeners.append(try lines.withBoundSocket(socketFD).wait())
        } catch {
            abandon()
            if let createdSocket, SocketFile.identity(path) == createdSocket { unlink(path) }
            throw .socket(path: path, reason: "cannot listen: \(error)")
        }

        var bound: HTTPAddress?
        if let http = configuration.http {
            let server = ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 256)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let limits = core.limits
                        try channel.pipeline.syncOperations.addHandler(PeerLimit(peers: core.peers))
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                        try channel.pipeline.syncOperations.addHandler(
                            HTTPTimeouts(headerTimeout: limits.headerTimeout, idleTimeout: limits.idleTimeout))
                        try channel.pipeline.syncOperations.addHandler(HTTPAdmission(core: core))
                        try channel.pipeline.syncOperations.addHandler(
                            NIOHTTPServerRequestAggregator(maxContentLength: limits.maxRequestBytes))
                        try channel.pipeline.syncOperations.addHandler(HTTPSession(core: core))
                    }
                }
            do {
                let channel = try server.bind(host: http.host, port: http.port).wait()
                listeners.append(channel)
                bound = HTTPAddress(host: http.host, port: channel.localAddress?.port ?? http.port)
            } catch {
                abandon()
                if let createdSocket, SocketFile.identity(path) == createdSocket { unlink(path) }
                throw .http(address: http.description, reason: "cannot listen: \(error)")
            }
        }
        socketPath = path
        httpAddress = bound
        socketIdentity = createdSocket
        self.socketLock = socketLock
        self.core = core
        self.recorder = recorder
        self.lookups = lookups
        self.group = group
        self.listeners = listeners
        drained = group.next().makePromise(of: Void.self)
        if let idle = configuration.idleExit { watchIdleness(idle) }
    }

    /// Checks a few times per `limit` (at most once a second, at least every 10 ms)
    /// whether no connection has been open for `limit`, and then stops the service.
    private func watchIdleness(_ limit: Duration) {
        let limitNs = limit.clampedNanoseconds
        let periodNs = Int64(clamping: min(max(limitNs / 4, 10_000_000), 1_000_000_000))
        let task = group.next().scheduleRepeatedTask(initialDelay: .nanoseconds(periodNs), delay: .nanoseconds(periodNs)) {
            [weak self] task in
            guard let self else { return task.cancel() }
            guard let idle = self.core.idleNs, idle >= limitNs else { return }
            task.cancel()
            guard !self.core.stopping.load(ordering: .acquiring) else { return }
            self.stoppedForIdleness.store(true, ordering: .releasing)
            self.shutdown()
        }
        idleExitWatch.withLock { $0 = task }
    }

    /// Totals so far.
    public var counters: ServiceCounters { core.counters.snapshot }

    /// Starts a graceful stop and returns at once: stops accepting and reading, answers
    /// every connection for the lines it has read (once committed), and closes each when
    /// its replies are delivered (or after ``ServiceLimits/drainTimeout``).
    /// ``waitUntilStopped()`` then flushes the recorder. Later calls do nothing.
    public func shutdown() {
        guard !core.stopping.exchange(true, ordering: .acquiringAndReleasing) else { return }
        idleExitWatch.withLock { $0?.cancel() }
        let loop = group.next()
        let closed = listeners.map { $0.close() }
        let drained = self.drained
        let core = self.core
        let timeout = core.limits.drainTimeout
        EventLoopFuture.andAllComplete(closed, on: loop).whenComplete { _ in
            let connections = core.drainAll()
            let forced = loop.scheduleTask(in: .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000
                                                             + timeout.components.attoseconds / 1_000_000_000)) {
                core.closeAll()
            }
            EventLoopFuture.andAllComplete(connections, on: loop).whenComplete { _ in
                forced.cancel()
                drained.succeed(())
            }
        }
    }

    /// Blocks until ``shutdown()`` has run its course; then commits what is left, stops
    /// the threads and removes the socket file.
    ///
    /// A commit that failed while the service ran is not an error here: the clients
    /// whose lines it held were told (``ServiceCounters/lost`` counts them).
    /// - Returns: the final totals.
    public func waitUntilStopped() -> ServiceCounters {
        try? drained.futureResult.wait()
        if let done = finished.withLock({ $0 }) { return done }
        try? recorder.close()
        try? core.pool.syncShutdownGracefully()
        try? lookups.syncShutdownGracefully()
        try? group.syncShutdownGracefully()
        if let socketIdentity, SocketFile.identity(socketPath) == socketIdentity { unlink(socketPath) }
        close(socketLock)
        var totals = core.counters.snapshot
        totals.lost = recorder.counters.lost
        let final = totals
        finished.withLock { $0 = final }
        return totals
    }
}
