#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Keeps `agent-performance.json` up to date while other processes commit: polls the
/// log's last `seq` (a read transaction is a few microseconds), and once it has changed
/// and then stayed still for the debounce, writes the projection. A failure to write is
/// reported and retried, never fatal: the watcher keeps going and recovers when the
/// target becomes writable again.
public struct ProjectionWatcher: Sendable {
    /// What happened on one step of the watch.
    public enum Report: Sendable {
        /// The projection was written (it differed from the file).
        case written(path: String, lastSeq: UInt64)
        /// The projection was checked and the file already held it.
        case unchanged(path: String, lastSeq: UInt64)
        /// Writing failed (or reading the log for it); the watcher retries.
        case failed(path: String, error: PerfLogError)
        /// Writing works again after a failure.
        case recovered(path: String)
    }

    /// The log watched.
    public let log: EventLog
    /// Where the projection goes.
    public let path: String
    /// How often the log is checked.
    public var pollInterval: Duration = .milliseconds(25)
    /// How long the log must stay still after a change before the projection is written
    /// (bounded: a log that never stops changing is projected at least this often × 4).
    public var debounce: Duration = .milliseconds(50)
    /// How often a failed write is retried.
    public var retryInterval: Duration = .seconds(1)
    /// Projector options (abandonment timeout, measurements).
    public var options = Projector.Options()
    /// What the file holds: the projection, or the old tracker's flat array.
    public var format: Projector.FileFormat = .projection

    /// A watcher of `log` writing to `path`.
    public init(log: EventLog, path: String) {
        self.log = log
        self.path = path
    }

    /// Writes the projection now if needed, then watches until `shouldStop` returns
    /// true (checked every poll), calling `report` after each write attempt.
    /// - Throws: ``PerfLogError`` when the log itself cannot be read.
    public func run(until shouldStop: () -> Bool, report: (Report) -> Void) throws(PerfLogError) {
        var failing = false
        var changedAt: UInt64? = nil
        var firstChangeAt: UInt64? = nil
        var lastAttempt: UInt64 = 0
        var seen = try log.read { try $0.lastSeq() }
        let poll = Self.ns(pollInterval), still = Self.ns(debounce), retry = Self.ns(retryInterval)

        func attempt(_ seq: UInt64) {
            lastAttempt = EventClock.monotonicNs()
            do {
                let result = try Projector.write(log: log, to: path, format: format, options: options)
                if failing { report(.recovered(path: path)) }
                failing = false
                report(result == .written ? .written(path: path, lastSeq: seq) : .unchanged(path: path, lastSeq: seq))
            } catch {
                failing = true
                report(.failed(path: path, error: error))
            }
        }

        attempt(seen)
        while !shouldStop() {
            Self.sleep(poll)
            let now = EventClock.monotonicNs()
            let seq = try log.read { try $0.lastSeq() }
            if seq != seen {
                seen = seq
                changedAt = now
                if firstChangeAt == nil { firstChangeAt = now }
            }
            if let changed = changedAt, let first = firstChangeAt,
               now &- changed >= still || now &- first >= 4 * still {
                changedAt = nil
                firstChangeAt = nil
                attempt(seen)
            } else if failing, changedAt == nil, now &- lastAttempt >= retry {
                attempt(seen)
            }
        }
    }

    static func ns(_ d: Duration) -> UInt64 {
        UInt64(max(0, d.components.seconds)) * 1_000_000_000 + UInt64(max(0, d.components.attoseconds / 1_000_000_000))
    }

    static func sleep(_ ns: UInt64) {
        var ts = timespec(tv_sec: Int(ns / 1_000_000_000), tv_nsec: Int(ns % 1_000_000_000))
        // A signal ends the sleep early, so that a stop request is seen at once.
        _ = nanosleep(&ts, nil)
    }
}
