import LMDB
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The event log: one LMDB environment holding, per stream, a **ring** of its newest
/// `retain` measures and a summary; the **timeline** of every retained event in commit
/// order; and the open marks (invocations **in flight**).
///
/// Many processes may append to one log at once; each ``append(_:)`` is one atomic
/// commit. Reads see a consistent snapshot (``read(_:)``).
public final class EventLog: Sendable {
    /// The schema version this build writes and the newest it reads: 1 the first
    /// release, 2 added lifetime counters and the histogram bounds, 3 the signal of an
    /// event record (``EventRecord``).
    public static let schemaVersion: UInt32 = 3
    /// The default ring size.
    public static let defaultRetain = 100
    /// The largest ring size.
    public static let maxRetain = 1_000_000

    /// How to open a log.
    public struct Options: Sendable {
        /// Ring size for a new log (ignored when the log exists: it keeps its own).
        public var retain: Int = EventLog.defaultRetain
        /// The bounds of the duration histogram of a new log (ignored when the log
        /// exists: it keeps its own).
        public var bucketBounds: BucketBounds = .standard
        /// Create the log when it does not exist.
        public var create: Bool = true
        /// Open for reading only: never creates, never writes.
        public var readOnly: Bool = false
        /// Initial LMDB map size in bytes; the map grows on demand.
        public var mapSize: Int = 64 << 20
        /// Durability of each commit.
        public var durability: Durability = .default
        /// The longest a write waits for another process that holds the log (its write
        /// lock) before it fails with ``PerfLogError/busy(path:reason:)``, writing
        /// nothing. Default 10 s.
        public var waitLimit: Duration = .seconds(10)
        /// With `readOnly`: walk the file's pages before mapping it (see
        /// ``EventLog/checkPages(at:)``). Off only for salvage, which reads a damaged
        /// log on purpose, in processes that may die of it.
        package var checksPages = true

        /// Default options: create with retain 100, default durability.
        public init() {}
    }

    /// What a commit promises about surviving a crash. A process crash never loses a
    /// committed event in any mode.
    public enum Durability: String, Sendable, CaseIterable {
        /// Each commit is on disk when it returns (data and meta page flushed).
        case durable
        /// Data is flushed on commit, the meta page is not (`MDB_NOMETASYNC`): an
        /// operating-system crash may undo the last commit, never the file's integrity.
        case `default`
        /// Nothing is flushed on commit (`MDB_NOSYNC`): an operating-system crash may lose
        /// recent commits; ``EventLog/sync()`` flushes.
        case fast
    }

    /// The log's directory.
    public let path: String
    /// What each commit promises about surviving a crash.
    public let durability: Durability
    /// Whether the log was opened for reading only.
    let isReadOnlyOpen: Bool
    /// The longest a write waits for the log's write lock (``Options/waitLimit``).
    public let waitLimit: Duration
    /// perflog's lock in front of LMDB's writer mutex.
    let writerLock: WriterLock

    /// The ring size: measures kept per stream (``compact(retain:expiringMarksOlderThan:waitingUpTo:)`` can change it).
    public var retain: Int { handle.withLock { $0.opened.retain } }
    /// The underlying environment. It is replaced when another process compacts the log;
    /// use it only inside one operation.
    package var environment: Environment { handle.withLock { $0.opened.environment } }
    var dbs: Databases { handle.withLock { $0.opened.dbs } }

    /// Stream ids known to be committed, by name. A stream keeps its id (compaction
    /// keeps them, and ids are never given out again), but `forget` and `rename` in
    /// another process may take a name away from it: an append checks each known id
    /// against the stream's record before using it.
    let streamIDs = Mutex<KnownStreams>(KnownStreams())
    /// The open environment and who is using it; see ``Gate``.
    let handle: Monitor<Handle>
    let handleChanged = Monitor<Handle>.Condition()
    let gate: Gate
    /// How many operations of this process share its hold of the gate (see ``joinGate``).
    private let gateShares = Mutex<Int>(0)
    let environmentOptions: Environment.Options

    /// What is open, and how many operations of this process are using it.
    struct Handle {
        var opened: Opened
        var users = 0
        /// A writer found the file replaced while operations of this process still use
        /// the old one: new operations wait until it has reopened.
        var reopenWanted = false
    }

    /// One opening of the environment.
    struct Opened {
        var environment: Environment
        var dbs: Databases
        var retain: Int
        var file: DataFileIdentity?
    }

    /// Opens the log at `path`, creating it when `options.create` allows.
    /// - Throws: ``PerfLogError``: `noLog` when it does not exist and may not be
    ///   created; `notALog` for a regular file, a directory holding other files, or a
    ///   data file that is not LMDB or not perflog's; `newerSchema`; `cannotCreate`;
    ///   `storage` for other LMDB failures. A refused path is never modified.
    public init(path: String, options: Options = Options()) throws(PerfLogError) {
        guard options.retain >= 1 && options.retain <= EventLog.maxRetain else {
            throw .invalidInput(field: "retain", rule: "must be between 1 and \(EventLog.maxRetain)")
        }
        guard options.waitLimit >= .zero, options.waitLimit <= EventLog.maxWaitLimit else {
            throw .invalidInput(field: "wait", rule: "must be between 0 and \(EventLog.maxWaitLimit.shortText)")
        }
        self.path = path
        durability = options.durability
        isReadOnlyOpen = options.readOnly
        waitLimit = options.waitLimit
        let writerLock = WriterLock(logPath: path)
        self.writerLock = writerLock
        let creating = try EventLog.classify(path: path, mayCreate: options.create && !options.readOnly)

        var envOptions = Environment.Options()
        envOptions.mapSize = options.mapSize
        envOptions.maxDatabases = 8
        switch options.durability {
        case .durable: break
        case .default: envOptions.flags.insert(.noMetaSync)
        case .fast: envOptions.flags.insert(.noSync)
        }
        // A read-only open still maps the environment read-write when it can: LMDB's
        // MDB_RDONLY, when it is the first to open an environment, resets the lock
        // file's transaction id and keeps it there, so a writer that opens next would
        // reuse committed transaction ids and lose commits. MDB_RDONLY is kept for files
        // this process cannot write (read-only media), where no one else can write either.
        // Reading commands only ever begin read transactions, so nothing is changed.
        envOptions.createDirectory = creating
        envOptions.fileMode = FileModes.newFile(in: path)
        environmentOptions = envOptions
        if creating && !options.readOnly {
            do { try Environment.makeDirectory(path, finalMode: FileModes.newDirectory(path)) } catch { throw .cannotCreate(path: path, reason: "\(error.code)") }
        }
        // A compaction in another process swaps the file under an exclusive gate; wait
        // for it to finish before opening. The gate file is made only for a log of
        // perflog's (a new one, or one the probe recognised), never in a foreign directory.
        if !options.readOnly && !creating { try EventLog.refuseIfKnownDamaged(path) }
        let gate = Gate(directory: path, create: creating && !options.readOnly)
        guard gate.lockSharedForOpening(deadlineNs: EventLog.deadline(options.waitLimit)) else {
            throw .busy(path: path, reason: "a compaction kept it for longer than \(options.waitLimit)")
        }
        let opened: Opened
        do {
            defer { gate.unlock() }
            opened = try EventLog.openLog(path: path, environmentOptions: envOptions, creating: creating, options: options, writerLock: writerLock)
        } catch {
            if let what = EventLog.damage(in: error), !creating {
                DamageMarker.record(at: path, found: what)
                throw .damaged(path: path, what: what)
            }
            throw error
        }
        self.gate = gate.fd >= 0 || options.readOnly ? gate : Gate(directory: path, create: true)
        handle = Monitor(Handle(opened: opened))
        if !options.readOnly { Compaction.removeLeftover(in: path, gate: self.gate) }
    }

    /// Flushes every commit to disk (`mdb_env_sync`), whatever the durability.
    /// - Throws: ``PerfLogError/storage(_:operation:)``.
    public func sync() throws(PerfLogError) {
        try PerfLogError.wrapping(operation: "syncing the log") {
            try using { opened in try opened.environment.sync(force: true) }
        }
    }

    /// Runs `body` on a consistent snapshot of the log.
    /// - Throws: ``PerfLogError`` from reading, or the one `body` throws; any other
    ///   error `body` throws arrives as ``PerfLogError/storage(_:operation:)`` (code
    ///   `MDB_INVALID`, its text as the context).
    public func read<R>(_ body: (LogReader) throws -> R) throws(PerfLogError) -> R {
        try PerfLogError.wrapping(operation: "reading the log") {
            try reading { opened in try opened.environment.read { txn in try body(LogReader(txn: txn, log: self)) } }
        }
    }

    /// Runs `body` in a write transaction of the current environment (see ``using(_:)``),
    /// holding the log's write lock, which it waits for until `deadlineNs` (default: the
    /// ``waitLimit`` from now).
    /// - Throws: `LMDBError`, ``PerfLogError`` (`busy` when the lock stayed held), or
    ///   whatever `body` throws.
    package func write<R>(deadlineNs: UInt64? = nil, _ body: (Transaction) throws -> R) throws -> R {
        try refuseIfReadOnly()
        return try using { opened in try writeTransaction(opened.environment, deadlineNs: deadlineNs, body) }
    }

    /// Runs `body` in a write transaction of `environment` (one of this log's), holding
    /// the log's write lock, which it waits for until `deadlineNs` (default: the
    /// ``waitLimit`` from now). Every write transaction perflog begins goes through here.
    /// - Throws: `LMDBError`, ``PerfLogError`` (`busy` when the lock stayed held), or
    ///   whatever `body` throws.
    func writeTransaction<R>(_ environment: Environment, deadlineNs: UInt64? = nil, _ body: (Transaction) throws -> R) throws -> R {
        try writerLock.write(environment, deadlineNs: deadlineNs ?? EventLog.deadline(waitLimit), body)
    }

    /// The longest ``Options/waitLimit``: a day.
    public static let maxWaitLimit: Duration = .seconds(86_400)

    /// The monotonic time `limit` from now, in nanoseconds.
    static func deadline(_ limit: Duration) -> UInt64 {
        EventClock.monotonicNs() &+ ProjectionWatcher.ns(limit)
    }

    /// A log opened read-only never writes, even when its environment is mapped
    /// read-write (see ``init(path:options:)``).
    /// A log found damaged is not written either (one `stat` per commit; see
    /// ``DamageMarker``).
    func refuseIfReadOnly() throws {
        if isReadOnlyOpen { throw LMDBError(.permissionDenied, operation: "mdb_txn_begin", context: path + " (opened read-only)") }
        try EventLog.refuseIfKnownDamaged(path)
    }

    /// Runs `body` with the current environment, for a writer: holds this process's
    /// share of the gate so that no compaction can swap the file meanwhile. The first
    /// operation to enter after a compaction elsewhere reopens the environment.
    /// - Throws: ``PerfLogError`` (`busy` when a compaction kept the gate past the wait
    ///   bound) when entering fails, or whatever `body` throws.
    func using<R>(_ body: (Opened) throws -> R) throws -> R {
        let opened = try enter(writing: true)
        defer { leave(writing: true) }
        do { return try body(opened) } catch { throw noteDamage(error) }
    }

    /// Runs `body` with the current environment, for a reader: holds no lock, so that a
    /// compaction never delays it. When the file was replaced it reopens first, unless
    /// other operations of this process still use the old environment, whose snapshot
    /// is consistent (only older).
    /// - Throws: ``PerfLogError`` when reopening fails, or whatever `body` throws.
    func reading<R>(_ body: (Opened) throws -> R) throws -> R {
        let opened = try enter(writing: false)
        defer { leave(writing: false) }
        do { return try body(opened) } catch { throw noteDamage(error) }
    }

    private func enter(writing: Bool) throws(PerfLogError) -> Opened {
        let deadline = EventLog.deadline(waitLimit)
        if writing {
            guard joinGate(writer: true, deadlineNs: deadline) else {
                throw .busy(path: path, reason: "a compaction kept it for longer than \(waitLimit)")
            }
        }
        while true {
            let outcome: Result<Opened, PerfLogError>? = handle.withLock { (h: inout Handle) -> Result<Opened, PerfLogError>? in
                if h.reopenWanted && !writing { return nil }
                // A reader joining operations under way shares their environment; anyone
                // else makes sure it is the current file's.
                if h.users == 0 || writing, h.opened.file != DataFileIdentity(path: path + "/data.mdb") {
                    if h.users > 0 {
                        // Readers of this process still use the old file: the writer waits
                        // for them, and new ones wait for it.
                        h.reopenWanted = true
                        return nil
                    }
                    let held = writing || joinGate(writer: false, deadlineNs: deadline)
                    guard held else { return .failure(.busy(path: path, reason: "a compaction kept it for longer than \(waitLimit)")) }
                    defer { if !writing { leaveGate() } }
                    switch Result(catching: { () throws(PerfLogError) -> Opened in try reopen(h.opened) }) {
                    case .success(let opened): h.opened = opened
                    case .failure(let error):
                        h.reopenWanted = false
                        return .failure(error)
                    }
                    h.reopenWanted = false
                }
                h.users += 1
                return .success(h.opened)
            }
            switch outcome {
            case .success(let opened)?:
                return opened
            case .failure(let error)?:
                if writing { leaveGate() }
                handleChanged.broadcast()
                throw error
            case nil:
                let done = handle.wait(on: handleChanged, deadlineNs: deadline) { h in writing ? h.users == 0 : !h.reopenWanted }
                if !done {
                    if writing {
                        handle.withLock { $0.reopenWanted = false }
                        leaveGate()
                        handleChanged.broadcast()
                    }
                    throw .busy(path: path, reason: "operations of this process kept the replaced file in use for longer than \(waitLimit)")
                }
            }
        }
    }

    private func leave(writing: Bool) {
        handle.withLock { h in h.users -= 1 }
        if writing { leaveGate() }
        handleChanged.broadcast()
    }

    /// Joins this process's shared hold of the gate (one lock of the gate file's
    /// description, counted): the first writer takes it through the turnstile, a
    /// reopening reader without it. Returns false when `deadlineNs` passed first.
    private func joinGate(writer: Bool, deadlineNs: UInt64) -> Bool {
        gateShares.withLock { n in
            if n == 0 {
                let ok = writer ? gate.lockShared(deadlineNs: deadlineNs) : gate.lockSharedForOpening(deadlineNs: deadlineNs)
                guard ok else { return false }
            }
            n += 1
            return true
        }
    }

    private func leaveGate() {
        gateShares.withLock { n in
            n -= 1
            if n == 0 { gate.unlock() }
        }
    }
}
