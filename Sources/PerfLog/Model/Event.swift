/// How an invocation ended.
public enum Outcome: String, Sendable, Hashable, CaseIterable {
    /// It succeeded.
    case ok
    /// It failed (crashed, exited non-zero, threw).
    case failed
}

/// One event of the log: a **mark** (an invocation started) or a **measure** (it ended).
public struct Event: Hashable, Sendable {
    /// Mark or measure.
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// The invocation started.
        case mark
        /// The invocation ended; carries a duration and an outcome.
        case measure
    }

    /// Global commit order, strictly increasing; 0 for an event not yet committed.
    public var seq: UInt64
    /// Mark or measure.
    public var kind: Kind
    /// The (agent, CLI) pair.
    public var stream: StreamName
    /// Links a mark with its measure.
    public var invocation: InvocationID
    /// Wall-clock time of the event, nanoseconds since the Unix epoch (UTC).
    public var wallTimeNs: Int64
    /// Monotonic duration in nanoseconds; measures only (0 for marks).
    public var durationNs: UInt64
    /// How it ended; measures only (`.ok` for marks).
    public var outcome: Outcome
    /// The exit status of the invocation, when it exited with one. A process that was
    /// ended by a signal has none: it has ``signal`` instead (never the shell's 128+N,
    /// which a real exit status can also be).
    public var exitCode: Int32?
    /// The number of the signal that ended the invocation (1 to ``maxSignal``), when one
    /// did; measures only, whose outcome is then `failed` and whose ``exitCode`` is `nil`.
    public var signal: Int32?
    /// The recording process.
    public var pid: Int32
    /// Small key/value metadata.
    public var meta: Metadata

    /// Creates a mark.
    public static func mark(
        _ stream: StreamName, invocation: InvocationID, wallTimeNs: Int64, pid: Int32, meta: Metadata = Metadata()
    ) -> Event {
        Event(seq: 0, kind: .mark, stream: stream, invocation: invocation, wallTimeNs: wallTimeNs,
              durationNs: 0, outcome: .ok, exitCode: nil, signal: nil, pid: pid, meta: meta)
    }

    /// Creates a measure. `signal` is the signal that ended the invocation, if one did
    /// (then `outcome` is `.failed` and `exitCode` is `nil`).
    public static func measure(
        _ stream: StreamName, invocation: InvocationID, durationNs: UInt64, outcome: Outcome, exitCode: Int32? = nil,
        signal: Int32? = nil, wallTimeNs: Int64, pid: Int32, meta: Metadata = Metadata()
    ) -> Event {
        Event(seq: 0, kind: .measure, stream: stream, invocation: invocation, wallTimeNs: wallTimeNs,
              durationNs: durationNs, outcome: outcome, exitCode: exitCode, signal: signal, pid: pid, meta: meta)
    }

    /// The highest signal number an event may carry: Linux's SIGRTMAX (Darwin's signals
    /// stop at 31).
    public static let maxSignal: Int32 = 64

    /// Creates an event from all of its fields.
    public init(
        seq: UInt64, kind: Kind, stream: StreamName, invocation: InvocationID, wallTimeNs: Int64,
        durationNs: UInt64, outcome: Outcome, exitCode: Int32?, signal: Int32? = nil, pid: Int32, meta: Metadata
    ) {
        self.seq = seq
        self.kind = kind
        self.stream = stream
        self.invocation = invocation
        self.wallTimeNs = wallTimeNs
        self.durationNs = durationNs
        self.outcome = outcome
        self.exitCode = exitCode
        self.signal = signal
        self.pid = pid
        self.meta = meta
    }
}
