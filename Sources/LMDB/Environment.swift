import CLMDB
import CFaultGuard
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An LMDB environment: one directory holding `data.mdb` and `lock.mdb`, shared safely
/// between threads and processes.
///
/// Transactions are scoped to a closure: ``read(_:)`` and ``write(_:)`` begin one, pass it
/// to the closure and end it when the closure returns. A write commits when its closure
/// returns and aborts when it throws. When the map is full, ``write(_:)`` grows the map
/// and runs the closure again; when another process has grown the map, the new size is
/// adopted before the transaction begins.
///
/// The environment is opened with `MDB_NOTLS`, so a read transaction is not tied to the
/// thread that began it and many threads may read at once.
public final class Environment: @unchecked Sendable {
    // Why @unchecked Sendable is safe: LMDB documents an MDB_env as usable from any
    // thread; the Swift state is `mapSizeLock`, itself a lock, and `closed`, written only
    // under the write side of that lock (or in deinit, when no one else can see it). Changing the
    // map size requires that no transaction of this process is active, which the
    // exclusive side of `mapSizeLock` guarantees.

    /// Environment flags passed to `mdb_env_open`.
    public struct Flags: OptionSet, Sendable, Hashable {
        /// The C bits.
        public let rawValue: UInt32
        /// Wraps C bits.
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        /// `MDB_RDONLY`: open read-only; writes fail.
        public static let readOnly = Flags(rawValue: UInt32(MDB_RDONLY))
        /// `MDB_NOSYNC`: do not flush to disk on commit. A system crash may lose commits
        /// or corrupt the file; a process crash loses nothing.
        public static let noSync = Flags(rawValue: UInt32(MDB_NOSYNC))
        /// `MDB_NOMETASYNC`: flush data but not the meta page on commit. A system crash may
        /// undo the last commit but keeps the file consistent.
        public static let noMetaSync = Flags(rawValue: UInt32(MDB_NOMETASYNC))
        /// `MDB_NORDAHEAD`: turn off OS read-ahead.
        public static let noReadAhead = Flags(rawValue: UInt32(MDB_NORDAHEAD))
        /// `MDB_WRITEMAP`: write through a writable memory map.
        public static let writeMap = Flags(rawValue: UInt32(MDB_WRITEMAP))
        /// `MDB_MAPASYNC`: with `writeMap`, flush asynchronously.
        public static let mapAsync = Flags(rawValue: UInt32(MDB_MAPASYNC))
        /// `MDB_NOLOCK`: use no lock file; the caller guarantees that no process writes
        /// (for reading an environment on read-only media).
        public static let noLock = Flags(rawValue: UInt32(MDB_NOLOCK))
    }

    /// How to open an environment.
    public struct Options: Sendable {
        /// Initial map size in bytes (rounded by LMDB to whole pages). Grown on demand.
        public var mapSize: Int = 64 << 20
        /// Maximum number of simultaneous read transactions across all processes.
        public var maxReaders: UInt32 = 126
        /// Maximum number of named databases.
        public var maxDatabases: UInt32 = 8
        /// Flags for `mdb_env_open` (`MDB_NOTLS` is always added).
        public var flags: Flags = []
        /// Permission bits for new files; the process umask applies.
        public var fileMode: mode_t = 0o666
        /// Create the directory (and missing parents) when it does not exist.
        public var createDirectory: Bool = true
        /// The largest map this environment grows to, in bytes.
        public var maxMapSize: Int = 1 << 40

        /// Default options.
        public init() {}
    }

    /// Map and file facts from `mdb_env_info` and `mdb_env_stat`.
    public struct Info: Sendable, Hashable {
        /// Current map size in bytes.
        public var mapSize: Int
        /// Number of the last used page (the file holds `lastPage + 1` pages).
        public var lastPage: Int
        /// The database page size in bytes.
        public var pageSize: Int
        /// The ID of the last committed transaction.
        public var lastTransaction: Int
        /// Reader slots in use.
        public var readers: Int
        /// Reader slots available.
        public var maxReaders: Int
    }

    /// The directory this environment lives in.
    public let path: String
    /// The options it was opened with.
    public let options: Options

    let handle: OpaquePointer
    let mapSizeLock = ReadWriteLock()
    /// Reader slots of dead processes that `mdb_reader_check` cleared when this
    /// environment was opened.
    public let staleReadersClearedAtOpen: Int
    private var closed = false

    /// The LMDB library version (`mdb_version`), e.g. `"0.9.24"`.
    public static var libraryVersion: String {
        var major: Int32 = 0, minor: Int32 = 0, patch: Int32 = 0
        _ = mdb_version(&major, &minor, &patch)
        return "\(major).\(minor).\(patch)"
    }

    /// Whether `directory` holds an LMDB data file: reads the magic number of the first
    /// meta page of `directory/data.mdb` without opening the environment (so nothing is
    /// created or locked). Returns `false` when the file is missing or foreign.
    public static func containsEnvironment(at directory: String) -> Bool {
        guard let file = try? DataFile(path: directory + "/data.mdb") else { return false }
        var header = [UInt8](repeating: 0, count: 24)
        guard (try? file.read(into: &header, at: 0)) == 24 else { return false }
        // MDB_meta starts after the 16-byte page header; mm_magic is 0xBEEFC0DE, mm_version 1.
        let magic = UInt32(header[16]) | UInt32(header[17]) << 8 | UInt32(header[18]) << 16 | UInt32(header[19]) << 24
        return magic == 0xBEEF_C0DE
    }

    /// Opens (and, unless read-only, creates) the environment in `path`.
    ///
    /// Calls `mdb_env_create`, `mdb_env_set_maxreaders`, `mdb_env_set_maxdbs`,
    /// `mdb_env_set_mapsize`, `mdb_env_open` and then `mdb_reader_check`, which clears
    /// reader slots left behind by dead processes.
    /// - Throws: `LMDBError` from any of them; `ENOTDIR` when `path` is a regular file,
    ///   `MDB_INVALID` when `data.mdb` is not an LMDB file, `EACCES` when the directory
    ///   cannot be written.
    public init(path: String, options: Options = Options()) throws(LMDBError) {
        self.path = path
        self.options = options
        if options.createDirectory && !options.flags.contains(.readOnly) {
            try Environment.makeDirectory(path, mode: 0o777)
        }
        try DataFile.requireRegularFiles(in: path)
        var env: OpaquePointer?
        try check(mdb_env_create(&env), "mdb_env_create")
        guard let env else { throw LMDBError(.invalid, operation: "mdb_env_create") }
        FaultGuard.attach(env)
        do throws(LMDBError) {
            try check(mdb_env_set_maxreaders(env, options.maxReaders), "mdb_env_set_maxreaders")
            try check(mdb_env_set_maxdbs(env, options.maxDatabases), "mdb_env_set_maxdbs")
            try check(mdb_env_set_mapsize(env, options.mapSize), "mdb_env_set_mapsize")
            let flags = options.flags.rawValue | UInt32(MDB_NOTLS)
            try check(mdb_env_open(env, path, flags, options.fileMode), "mdb_env_open", path)
            var dead: Int32 = 0
            if !options.flags.contains(.noLock) { try check(mdb_reader_check(env, &dead), "mdb_reader_check", path) }
            staleReadersClearedAtOpen = Int(dead)
        } catch {
            mdb_env_close(env)
            throw error
        }
        self.handle = env
        // Before anything follows a page: the meta pages, the roots and the file's end
        // (a few reads; a truncated file touched through the map kills the process).
        try checkHead()
    }

    deinit {
        if !closed { mdb_env_close(handle) }
    }

    /// Closes the environment (`mdb_env_close`). No transaction may be active; further
    /// use of the environment is a programming error.
    public func close() {
        mapSizeLock.withWriteLock {
            if !closed { closed = true; mdb_env_close(handle) }
        }
    }

    /// Runs `body` in a read-only transaction (`mdb_txn_begin` with `MDB_RDONLY`) that
    /// sees the last commit at the time it began, then ends it: committed when `body`
    /// returns, so that databases opened in it stay open for later transactions, and
    /// aborted when `body` throws.
    /// - Throws: `LMDBError` from `mdb_txn_begin`, or whatever `body` throws.
    public func read<R>(_ body: (Transaction) throws -> R) throws -> R {
        try mapSizeLock.withReadLock { try transaction(flags: UInt32(MDB_RDONLY), body) }
    }

    /// Runs `body` in a write transaction: commits (`mdb_txn_commit`) when it returns,
    /// aborts (`mdb_txn_abort`) when it throws.
    ///
    /// When LMDB reports `MDB_MAP_FULL` (from `body` or from the commit), the transaction
    /// is aborted, the map is doubled and `body` runs again from the start, so `body`
    /// must have no effects outside the transaction that a second run would repeat.
    /// Only one write transaction runs at a time across all processes; this call waits
    /// for the others.
    /// - Throws: `LMDBError` (e.g. `ENOSPC` when the disk is full, `MDB_MAP_FULL` once
    ///   ``Options/maxMapSize`` is reached), or whatever `body` throws.
    public func write<R>(_ body: (Transaction) throws -> R) throws -> R {
        while true {
            let outcome: Result<R, any Error> = mapSizeLock.withReadLock {
                do { return .success(try transaction(flags: 0, body)) } catch { return .failure(error) }
            }
            switch outcome {
            case .success(let value):
                return value
            case .failure(let error as LMDBError) where error.code == .mapFull:
                try growMap(past: error)
            case .failure(let error):
                throw error
            }
        }
    }

    /// Runs `body` in a transaction begun with `flags` (under the map-size lock):
    /// commits when it returns, aborts when it throws.
    private func transaction<R>(flags: UInt32, _ body: (Transaction) throws -> R) throws -> R {
        let txn = try beginAdoptingMapSize(flags: flags)
        let result: R
        do {
            result = try body(Transaction(handle: txn))
        } catch {
            mdb_txn_abort(txn)
            throw error
        }
        // Committed even when read-only: LMDB closes the database handles a transaction
        // opened when that transaction aborts. mdb_txn_commit frees the transaction
        // whether or not it succeeds.
        try check(mdb_txn_commit(txn), "mdb_txn_commit", path)
        return result
    }

    /// Flushes the data buffers to disk (`mdb_env_sync`); with `force`, even when the
    /// environment was opened with `noSync` or `noMetaSync`.
    /// - Throws: `LMDBError` from `mdb_env_sync`.
    public func sync(force: Bool = true) throws(LMDBError) {
        try check(mdb_env_sync(handle, force ? 1 : 0), "mdb_env_sync", path)
    }

    /// Map and file facts (`mdb_env_info`, `mdb_env_stat`).
    public var info: Info {
        mapSizeLock.withReadLock {
            var info = MDB_envinfo()
            var stat = MDB_stat()
            mdb_env_info(handle, &info)
            mdb_env_stat(handle, &stat)
            return Info(
                mapSize: info.me_mapsize, lastPage: info.me_last_pgno, pageSize: Int(stat.ms_psize),
                lastTransaction: info.me_last_txnid, readers: Int(info.me_numreaders),
                maxReaders: Int(info.me_maxreaders))
        }
    }

    /// Clears reader slots of processes that no longer exist (`mdb_reader_check`).
    /// - Returns: the number of slots cleared.
    /// - Throws: `LMDBError` from `mdb_reader_check`.
    @discardableResult
    public func clearStaleReaders() throws(LMDBError) -> Int {
        var dead: Int32 = 0
        try check(mdb_reader_check(handle, &dead), "mdb_reader_check", path)
        return Int(dead)
    }

    /// Copies the environment into an open file (`mdb_env_copyfd2`); with `compact`, free
    /// pages are left out and pages renumbered (`MDB_CP_COMPACT`). The caller syncs and
    /// closes the file.
    /// - Throws: `LMDBError` from `mdb_env_copyfd2`.
    public func copy(toFileDescriptor fd: Int32, compact: Bool) throws(LMDBError) {
        try check(mdb_env_copyfd2(handle, fd, compact ? UInt32(MDB_CP_COMPACT) : 0), "mdb_env_copyfd2", path)
    }

    /// Copies the environment into the existing empty directory `directory`
    /// (`mdb_env_copy2`); with `compact`, free pages are left out and pages renumbered
    /// (`MDB_CP_COMPACT`).
    /// - Throws: `LMDBError` from `mdb_env_copy2`.
    public func copy(to directory: String, compact: Bool) throws(LMDBError) {
        try check(
            mdb_env_copy2(handle, directory, compact ? UInt32(MDB_CP_COMPACT) : 0), "mdb_env_copy2", directory)
    }

    /// Begins a transaction; on `MDB_MAP_RESIZED` adopts the size another process set
    /// (`mdb_env_set_mapsize` with 0) and begins again. The caller holds the read side of
    /// `mapSizeLock`, so this briefly upgrades to the exclusive side to resize.
    private func beginAdoptingMapSize(flags: UInt32) throws(LMDBError) -> OpaquePointer {
        // Every thread that reads pages gets the fault guard's alternate stack.
        perflog_fault_guard_enter_thread()
        while true {
            var txn: OpaquePointer?
            let rc = mdb_txn_begin(handle, nil, flags, &txn)
            if rc == MDB_MAP_RESIZED {
                try adoptMapSize()
                continue
            }
            try check(rc, "mdb_txn_begin", path)
            guard let txn else { throw LMDBError(.badTransaction, operation: "mdb_txn_begin", context: path) }
            return txn
        }
    }

    private func adoptMapSize() throws(LMDBError) {
        // Called with the read side held; LMDB requires no active transaction in this
        // process while resizing, so trade it for the write side.
        mapSizeLock.unlock()
        defer { mapSizeLock.lockRead() }
        let rc: Int32 = mapSizeLock.withWriteLock { mdb_env_set_mapsize(handle, 0) }
        try check(rc, "mdb_env_set_mapsize", path)
    }

    private func growMap(past error: LMDBError) throws {
        let rc: Int32 = try mapSizeLock.withWriteLock {
            var info = MDB_envinfo()
            mdb_env_info(handle, &info)
            let current = info.me_mapsize
            guard current < options.maxMapSize else { throw error }
            let next = min(options.maxMapSize, current < (1 << 30) ? current * 2 : current + (1 << 30))
            return mdb_env_set_mapsize(handle, next)
        }
        try check(rc, "mdb_env_set_mapsize", path)
    }

    /// Creates `path` and any missing parents (`mkdir -p`), with `mode` less the umask
    /// (`path` itself with `finalMode` when given).
    /// - Throws: `LMDBError` with `ENOTDIR` when `path` exists and is not a directory, or
    ///   the `errno` of `mkdir`.
    public static func makeDirectory(_ path: String, mode: mode_t = 0o777, finalMode: mode_t? = nil) throws(LMDBError) {
        var stat_ = stat()
        if stat(path, &stat_) == 0 {
            if (stat_.st_mode & S_IFMT) != S_IFDIR {
                throw LMDBError(.notDirectory, operation: "mkdir", context: path)
            }
            return
        }
        if let slash = path.lastIndex(of: "/"), slash != path.startIndex {
            try makeDirectory(String(path[..<slash]), mode: mode)
        }
        if mkdir(path, finalMode ?? mode) != 0 && errno != EEXIST {
            throw LMDBError(LMDBError.Code(rawValue: errno), operation: "mkdir", context: path)
        }
    }
}

