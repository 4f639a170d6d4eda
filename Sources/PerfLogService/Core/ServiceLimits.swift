import PerfLog

/// The bounds a service keeps to, so that no client can make it use unbounded memory
/// or hold up others.
public struct ServiceLimits: Sendable, Hashable {
    /// The longest line accepted, in bytes (line feed excluded), at most
    /// ``maxLineBytesLimit``. A valid event is at most a few KiB; a longer line gets an
    /// error reply and is skipped.
    public var maxLineBytes = 64 << 10
    /// The largest ``maxLineBytes`` that means what it says: the event parser's own
    /// bound on a line (1 MiB).
    public static let maxLineBytesLimit = ImportedEvents.maxLineBytes
    /// The largest HTTP request body accepted, in bytes (413 beyond it).
    public var maxRequestBytes = 16 << 20
    /// Connections open at once, on the socket and on HTTP each; one more is told so
    /// and closed.
    public var maxConnections = 1024
    /// Events one socket connection may have waiting for their commit before the
    /// service stops reading from it until they are committed.
    public var window = 16_384
    /// Events all connections together may have waiting for their commit: past it, the
    /// service reads from no one until commits catch up (it bounds memory however many
    /// clients there are).
    public var totalWindow = 262_144
    /// Marks remembered for pairing with their measures (oldest forgotten first).
    public var maxOpenMarks = 65_536
    /// How long a line may stay incomplete (bytes sent, no line feed) before it is
    /// refused and its connection closed: a client stuck mid-line gives its connection
    /// back. `nil`: no limit.
    public var lineTimeout: Duration? = .seconds(300)
    /// How long an HTTP client may take, from connecting, to send its first request's
    /// head (request line and headers) before the connection is closed. `nil`: no limit.
    public var headerTimeout: Duration? = .seconds(10)
    /// How long a kept-alive HTTP connection may wait for its next request, and a
    /// request body may stall, before the connection is closed. `nil`: no limit.
    public var idleTimeout: Duration? = .seconds(60)
    /// HTTP connections one peer may have open at once: one local user (on Linux, from
    /// the kernel's socket table), else one address. One more is answered 503 and
    /// closed, so that no user can take every connection from the others.
    public var maxConnectionsPerPeer = 64
    /// How long shutdown waits for connections to be answered before closing them.
    public var drainTimeout: Duration = .seconds(10)

    /// The defaults.
    public init() {}
}
