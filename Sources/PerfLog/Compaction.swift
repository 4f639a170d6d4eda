import LMDB
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What ``EventLog/compact(retain:expiringMarksOlderThan:waitingUpTo:)`` did.
public struct CompactionReport: Sendable, Hashable {
    /// Size of `data.mdb` before, in bytes.
    public var bytesBefore: Int
    /// Size of `data.mdb` after, in bytes.
    public var bytesAfter: Int
    /// The ring size before.
    public var retainBefore: Int
    /// The ring size after.
    public var retainAfter: Int
    /// Measures dropped because the ring size shrank.
    public var measuresTrimmed: Int
    /// What the repair pass that precedes the copy changed (evicted measures collected,
    /// abandoned marks expired, …).
    public var repair: RepairReport
}

enum Compaction {
    /// The copy being written, in the log directory until it replaces `data.mdb`.
    static let temporaryName = "data.mdb.compact"
}

extension EventLog {
    /// Rewrites the log compactly and swaps it in: collects evicted measures, expires
    /// marks older than `cutoffWallNs` when given, changes the ring size to `retain`
    /// when given (keeping each stream's newest measures), copies the environment
    /// without free pages (`mdb_env_copyfd2` with `MDB_CP_COMPACT`) and renames the copy
    /// over `data.mdb`.
    ///
    /// Other processes keep working: the swap happens while this process holds the
    /// log's gate exclusively, so no operation of any process is under way, and each
    /// process reopens the new file before its next operation. Nothing committed is
    /// lost. When other processes keep the gate busy for longer than `timeout`, the
    /// compaction gives up and changes nothing.
    /// - Throws: ``PerfLogError``: `busy` when the gate could not be taken in time;
    ///   `invalidInput` for a bad `retain`; `storage` when writing fails.
    public func compact(
        retain newRetain: Int? = nil, expiringMarksOlderThan cutoffWallNs: Int64? = nil,
        waitingUpTo timeout: Duration = .seconds(10)
    ) throws(PerfLogError) -> CompactionReport {
        if let newRetain, newRetain < 1 || newRetain > EventLog.maxRetain {
            throw .invalidInput(field: "retain", rule: "must be between 1 and \(EventLog.maxRetain)")
        }
        guard !isReadOnlyOpen else { throw .invalidInput(field: "log", rule: "is open read-only; it cannot be compacted") }
        guard gate.fd >= 0 else {
            throw .storage(LMDBError(.permissionDenied, operation: "open", context: path + "/" + Gate.fileName), operation: "compacting the log")
        }

        // This process first: wait until none of its operations is under way, then keep
        // its lock while waiting for the others, so that its own threads queue on the
        // lock rather than on the gate (where they would hold the lock and block the
        // swap).
        let deadline = EventClock.monotonicNs() &+ ProjectionWatcher.ns(timeout)
        while true {
            let result: Result<CompactionReport, PerfLogError>? = handle.withLock { h in
                guard h.users == 0 else { return nil }
                guard gate.lockExclusive(deadlineNs: deadline) else {
                    return .failure(.busy(path: path, reason: "other processes kept it in use for \(timeout); nothing was changed"))
                }
                defer { gate.unlockExclusive() }
                return Result { () throws(PerfLogError) -> CompactionReport in
                    try swapInCompactCopy(&h, newRetain: newRetain, cutoffWallNs: cutoffWallNs)
                }
            }
            if let result {
                handleChanged.broadcast()
                return try result.get()
            }
            _ = handle.wait(on: handleChanged) { $0.users == 0 }
        }
    }

    /// The compaction proper, with every process outside the environment.
    private func swapInCompactCopy(_ h: inout Handle, newRetain: Int?, cutoffWallNs: Int64?) throws(PerfLogError) -> CompactionReport {
        do {
            if h.opened.file != DataFileIdentity(path: path + "/data.mdb") { h.opened = try reopen(h.opened) }
            let before = EventLog.fileSize(path + "/data.mdb")
            let retainBefore = h.opened.retain
            let env = h.opened.environment
            let dbs = h.opened.dbs
            var repair = RepairReport()
            var trimmed = 0
            do {
                repair = try writeTransaction(env) { txn in
                    var pass = RepairPass(txn: txn, log: self, dbs: dbs, retain: retainBefore)
                    return try pass.run(cutoffWallNs: cutoffWallNs)
                }
                if let newRetain, newRetain != retainBefore {
                    trimmed = try writeTransaction(env) { txn in try EventLog.changeRetain(txn, dbs: dbs, from: retainBefore, to: newRetain) }
                }
                try env.sync(force: true)
            } catch let error as PerfLogError {
                throw error
            } catch let error as LMDBError {
                throw .storage(error, operation: "compacting the log")
            } catch {
                throw .storage(LMDBError(.invalid, operation: "compact"), operation: "compacting the log")
            }

            let temporary = path + "/" + Compaction.temporaryName
            unlink(temporary)
            let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
            guard fd >= 0 else {
                throw .storage(LMDBError(LMDBError.Code(rawValue: errno), operation: "open", context: temporary), operation: "compacting the log")
            }
            // The copy takes the original's mode and group, so that a log shared by a
            // group stays shared whoever compacts it.
            var original = stat()
            if stat(path + "/data.mdb", &original) == 0 {
                _ = fchmod(fd, original.st_mode & 0o7777)
                _ = fchown(fd, uid_t.max, original.st_gid)
            }
            do throws(LMDBError) {
                try env.copy(toFileDescriptor: fd, compact: true)
                guard fsync(fd) == 0 else { throw LMDBError(LMDBError.Code(rawValue: errno), operation: "fsync", context: temporary) }
                close(fd)
            } catch {
                close(fd)
                unlink(temporary)
                throw .storage(error, operation: "compacting the log")
            }
            // Every process is outside the environment; replace the file and its lock
            // file (whose reader table and transaction ids belong to the old file).
            env.close()
            guard rename(temporary, path + "/data.mdb") == 0 else {
                let code = errno
                unlink(temporary)
                h.opened = try reopen(h.opened)
                throw .storage(LMDBError(LMDBError.Code(rawValue: code), operation: "rename", context: temporary), operation: "compacting the log")
            }
            unlink(path + "/lock.mdb")
            EventLog.syncDirectory(path)
            h.opened = try reopen(h.opened)
            return CompactionReport(
                bytesBefore: before, bytesAfter: EventLog.fileSize(path + "/data.mdb"), retainBefore: retainBefore,
                retainAfter: h.opened.retain, measuresTrimmed: trimmed, repair: repair)
        }
    }

    /// Re-trims every ring to `newRetain`, keeping the newest measures, and stores the
    /// new size. Returns how many measures were dropped.
    static func changeRetain(_ txn: Transaction, dbs: Databases, from old: Int, to new: Int) throws -> Int {
        var rings: [(UInt32, Ring)] = []
        try txn.withCursor(dbs.streams) { c in
            var entry = try c.first()
            while let (k, v) = entry {
                rings.append((Keys.integer32(k), try RingRecord.decode(v, retain: old)))
                entry = try c.next()
            }
        }
        var dropped = 0
        for (id, ring) in rings {
            let ordered = ring.ordered(retain: old)
            let keep = Array(ordered.suffix(new))
            var fixed = ring
            for seq in ordered.dropLast(keep.count) {
                let raw = try Keys.with(seq) { k in try txn.value(in: dbs.events, forKey: k) }
                if let raw { fixed.summary.remove(try EventRecord.decode(StoredEvent.record(raw), stream: ring.summary.stream)) }
                try Keys.with(seq) { k in _ = try txn.delete(dbs.events, key: k) }
                dropped += 1
            }
            fixed.slots = keep
            fixed.summary.appended = UInt64(keep.count)
            let bytes = RingRecord.encode(fixed)
            try Keys.with(id) { k in try bytes.withUnsafeBytes { v in try txn.put(dbs.streams, key: k, value: v) } }
        }
        try txn.put(dbs.meta, key: Array("retain".utf8), value: Keys.u32(UInt32(new)))
        return dropped
    }

    static func fileSize(_ path: String) -> Int {
        var st = stat()
        return stat(path, &st) == 0 ? Int(st.st_size) : 0
    }

    static func syncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
    }
}
