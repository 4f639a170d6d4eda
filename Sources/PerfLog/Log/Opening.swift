import LMDB
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension EventLog {
    /// Opens the environment at `path` and finds (or creates) the log in it.
    static func openLog(
        path: String, environmentOptions envOptions: Environment.Options, creating: Bool, options: Options,
        writerLock: WriterLock
    ) throws(PerfLogError) -> Opened {
        // The head of the file (meta pages, roots, main database) is checked before
        // the environment is opened, so that a reader leaves a damaged log untouched;
        // opening checks it again under a read transaction, for writers too.
        // `checkPages` walks the rest.
        if options.readOnly && options.checksPages { try checkHead(at: path) }
        var env: Environment
        do {
            do {
                env = try Environment(path: path, options: envOptions)
            } catch let error where options.readOnly && (error.code == .readOnlyFileSystem || error.code == .permissionDenied) {
                // A log on read-only media (or whose files this user cannot write): no
                // process can be writing it, so it is read-only and without a lock file.
                var lockless = envOptions
                lockless.flags.formUnion([.readOnly, .noLock])
                env = try Environment(path: path, options: lockless)
            }
        } catch {
            if creating { throw .cannotCreate(path: path, reason: "\(error.code)") }
            switch error.code {
            case .invalid where error.operation == "mdb_env_open" && error.context?.hasSuffix("is not a regular file") == true:
                throw .notALog(path: path, reason: error.context ?? "")
            case .invalid, .versionMismatch:
                throw .notALog(path: path, reason: "data.mdb is not a readable LMDB file")
            case .corrupted:
                throw .corrupt(what: error.context ?? "data.mdb is damaged")
            case .noEntry where options.readOnly:
                throw .notALog(path: path, reason: "lock.mdb is missing and the log is opened read-only")
            default:
                throw .storage(error, operation: "opening the log")
            }
        }
        let file = DataFileIdentity(path: path + "/data.mdb")

        // Probe in a read transaction first so that an existing log is not written to.
        var existing = try EventLog.probe(env, path: path)
        let empty = existing == nil && EventLog.isEmpty(env)
        if existing == nil && empty && !(options.create && !options.readOnly) {
            // Another process is creating this log; its first commit is a moment away.
            // A reader waits for it (about two seconds at most) rather than refusing.
            for _ in 0..<400 where existing == nil {
                var pause = timespec(tv_sec: 0, tv_nsec: 5_000_000)
                nanosleep(&pause, nil)
                existing = try EventLog.probe(env, path: path)
            }
            if existing == nil && EventLog.isEmpty(env) { throw .noLog(path: path) }
        }
        if let found = existing {
            if found.schema < EventLog.schemaVersion && !options.readOnly {
                try EventLog.upgrade(env, dbs: found.dbs, retain: found.retain, path: path, options: options, writerLock: writerLock)
            }
            return Opened(environment: env, dbs: found.dbs, retain: found.retain, file: file)
        }
        // An environment with nothing in it is a log that another process is creating
        // right now (its first commit is not in yet): join in rather than refuse it.
        let mayJoin = options.create && !options.readOnly && empty
        guard creating || mayJoin else {
            throw .notALog(path: path, reason: "an LMDB environment without perflog's data")
        }
        let created: (dbs: Databases, retain: Int)
        do {
            created = try writerLock.write(env, deadlineNs: EventLog.deadline(options.waitLimit)) { txn in
                let dbs = try Databases.open(txn, create: true)
                // Another process may have created the log between the probe above and
                // this transaction; resetting its counters would corrupt its events.
                if let stored = try txn.meta(.retain, as: UInt32.self, in: dbs.meta) {
                    let retain = Int(stored)
                    guard retain >= 1 && retain <= EventLog.maxRetain else { throw PerfLogError.corrupt(what: "ring size \(retain)") }
                    return (dbs, retain)
                }
                try txn.putMeta(.schema, EventLog.schemaVersion, in: dbs.meta)
                try txn.putBucketBounds(options.bucketBounds, in: dbs.meta)
                try txn.putMeta(.retain, UInt32(options.retain), in: dbs.meta)
                try txn.putMeta(.seq, UInt64(0), in: dbs.meta)
                try txn.putMeta(.streams, UInt32(0), in: dbs.meta)
                try txn.putMeta(.gc, UInt64(0), in: dbs.meta)
                try txn.putMeta(.garbage, UInt64(0), in: dbs.meta)
                return (dbs, options.retain)
            }
        } catch {
            switch PerfLogError.from(error, operation: "creating the log") {
            case .storage(let lmdb, _): throw .cannotCreate(path: path, reason: "\(lmdb.code)")
            case let other: throw other
            }
        }
        return Opened(environment: env, dbs: created.dbs, retain: created.retain, file: file)
    }

    /// What probing an existing log finds.
    struct Probed {
        var dbs: Databases
        var retain: Int
        /// The schema the log was written with (at most ``EventLog/schemaVersion``).
        var schema: UInt32
    }

    /// Reads the schema and ring size of an existing log, or returns `nil` when the
    /// environment holds no perflog data yet.
    static func probe(_ env: Environment, path: String) throws(PerfLogError) -> Probed? {
        do {
            return try env.read { txn -> Probed? in
                guard let meta = Databases.openMeta(txn) else { return nil }
                guard let version = try txn.meta(.schema, as: UInt32.self, in: meta) else {
                    throw PerfLogError.notALog(path: path, reason: "an LMDB environment without perflog's schema")
                }
                guard version <= EventLog.schemaVersion else {
                    throw PerfLogError.newerSchema(path: path, found: version, supported: EventLog.schemaVersion)
                }
                guard let stored = try txn.meta(.retain, as: UInt32.self, in: meta) else {
                    throw PerfLogError.corrupt(what: "the ring size is missing")
                }
                let retain = Int(stored)
                guard retain >= 1 && retain <= EventLog.maxRetain else { throw PerfLogError.corrupt(what: "ring size \(retain)") }
                return Probed(dbs: try Databases.open(txn, create: false), retain: retain, schema: version)
            }
        } catch let error as LMDBError where error.code == .notFound {
            throw .corrupt(what: "a database of the log is missing")
        } catch {
            throw .from(error, operation: "opening the log")
        }
    }

    /// Whether the environment's main database is empty: nothing has been committed.
    static func isEmpty(_ env: Environment) -> Bool {
        (try? env.read { txn in try txn.statistics(try txn.openDatabase(nil)).entries == 0 }) ?? false
    }

    /// Decides whether `path` is an existing log (false), may be created (true), or must
    /// be refused, looking only: nothing is created here.
    static func classify(path: String, mayCreate: Bool) throws(PerfLogError) -> Bool {
        var st = stat()
        guard stat(path, &st) == 0 else {
            if mayCreate { return true }
            throw .noLog(path: path)
        }
        guard (st.st_mode & S_IFMT) == S_IFDIR else {
            throw .notALog(path: path, reason: "it is a file, not a directory")
        }
        if Environment.containsEnvironment(at: path) { return false }
        var dataStat = stat()
        if stat(path + "/data.mdb", &dataStat) == 0 {
            if (dataStat.st_mode & S_IFMT) != S_IFREG { throw .notALog(path: path, reason: "data.mdb is not a regular file") }
            if dataStat.st_size > 0 { throw .notALog(path: path, reason: "data.mdb is not an LMDB file") }
        }
        let entries = directoryEntries(path).filter { !EventLog.ownFiles.contains($0) }
        if !entries.isEmpty {
            throw .notALog(path: path, reason: "the directory holds other files (\(entries.sorted().prefix(3).joined(separator: ", ")))")
        }
        if mayCreate { return true }
        throw .noLog(path: path)
    }

    /// The files a log directory may hold.
    static let ownFiles: Set<String> = ["lock.mdb", "data.mdb", Gate.fileName, Compaction.temporaryName, DamageMarker.fileName]

    static func directoryEntries(_ path: String) -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    func reopen(_ old: Opened) throws(PerfLogError) -> Opened {
        old.environment.close()
        var options = Options()
        options.create = false
        options.readOnly = isReadOnlyOpen
        options.durability = durability
        return try EventLog.openLog(
            path: path, environmentOptions: environmentOptions, creating: false, options: options, writerLock: writerLock)
    }
}
