import Synchronization

/// Running totals of a service, for `/metrics`, `/healthz` and its closing summary.
public struct ServiceCounters: Sendable, Hashable {
    /// Lines received (blank ones excepted), over the socket and HTTP.
    public var lines: UInt64 = 0
    /// Events committed to the log from those lines.
    public var committed: UInt64 = 0
    /// Lines refused with an error reply (they broke a rule, or their commit failed).
    public var rejected: UInt64 = 0
    /// Events acknowledged without being stored again, because their invocation's
    /// measure was in the stream's ring already: a client's retry of a measure or its mark.
    public var duplicates: UInt64 = 0
    /// Events lost to commits that failed (a full disk, say); each client was told.
    public var lost: UInt64 = 0
    /// Socket connections accepted since the start.
    public var connections: UInt64 = 0
    /// Socket connections open now.
    public var openConnections: UInt64 = 0
    /// HTTP requests answered.
    public var httpRequests: UInt64 = 0
}

/// The counters as atomics, updated from every event loop.
final class AtomicServiceCounters: Sendable {
    let lines = Atomic<UInt64>(0)
    let committed = Atomic<UInt64>(0)
    let rejected = Atomic<UInt64>(0)
    let connections = Atomic<UInt64>(0)
    let openConnections = Atomic<UInt64>(0)
    let httpRequests = Atomic<UInt64>(0)

    var snapshot: ServiceCounters {
        ServiceCounters(
            lines: lines.load(ordering: .relaxed), committed: committed.load(ordering: .relaxed),
            rejected: rejected.load(ordering: .relaxed), connections: connections.load(ordering: .relaxed),
            openConnections: openConnections.load(ordering: .relaxed), httpRequests: httpRequests.load(ordering: .relaxed))
    }
}
