import LMDB
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Facts about a log, as `perflog info` shows them.
public struct LogInfo: Sendable, Hashable {
    /// The log's directory.
    public var path: String
    /// The schema version stored in the log.
    public var schemaVersion: UInt32
    /// The ring size.
    public var retain: Int
    /// Number of streams.
    public var streams: Int
    /// Retained measures over all streams.
    public var events: Int
    /// Open marks over all streams.
    public var inFlight: Int
    /// Open marks older than the abandonment timeout (default 1 h): invocations that
    /// crashed or were killed before their measure.
    public var abandoned: Int
    /// Measures over all streams since their lifetime counters started, not only the
    /// retained ones.
    public var total: UInt64
    /// Failed measures over all streams since their lifetime counters started.
    public var totalFailures: UInt64
    /// The last committed `seq`.
    public var lastSeq: UInt64
    /// Size of `data.mdb` in bytes.
    public var fileBytes: Int
    /// The LMDB map size in bytes.
    public var mapBytes: Int
    /// The LMDB library version.
    public var lmdbVersion: String
}
