import LMDB
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What ``EventLog/compact(retain:expiringMarksOlderThan:waitingUpTo:phase:)`` did.
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
    /// What the repair pass on the copy changed (evicted measures collected, abandoned
    /// marks expired, …).
    public var repair: RepairReport
    /// Events committed to the log during the copy and applied to it before the swap.
    public var eventsCaughtUp: Int = 0
    /// How long the gate was held exclusively (writers waited at most this, plus the
    /// wait for it), in nanoseconds.
    public var exclusiveHoldNs: UInt64 = 0
}

/// The steps of a compaction, as reported to its `phase` callback.
public enum CompactionPhase: Sendable, Hashable {
    /// Copying the log from a snapshot, without free pages; nobody waits for it.
    case copying
    /// Collecting evicted measures, expiring marks and changing the ring size, in the copy.
    case repairing
    /// Applying what was committed during the copy (`events` of them), without a lock.
    case catchingUp(events: Int)
    /// Holding the gate exclusively: the last commits are applied and the copy is
    /// renamed over `data.mdb`; `heldNs` is how long that took.
    case swapped(heldNs: UInt64)
}

enum Compaction {
    /// The directory the copy is written in (as its own environment, private to the
    /// compacting process) until its data file replaces `data.mdb`.
    static let temporaryName = "data.mdb.compact"

    /// From this size of the copy (in bytes), a repair that changed nothing does not
    /// have it copied a second time.
    static let singleCopyBytes = 64 << 20

    /// How long a compaction keeps writers queued at the turnstile while it waits for
    /// the commits under way to finish; it lets them in again and retries after that.
    static let turnstileWindowNs: UInt64 = 50_000_000

    /// Removes a copy left by a killed compaction, when no compaction runs (the
    /// maintenance lock is free). Errors are ignored: the next compaction replaces it.
    static func removeLeftover(in path: String, gate: Gate) {
        let temporary = path + "/" + temporaryName
        var st = stat()
        guard lstat(temporary, &st) == 0 else { return }
        guard gate.lockMaintenance(deadlineNs: 0, recordingPid: false) else { return }
        defer { gate.unlockMaintenance() }
        remove(temporary)
    }

    /// Removes the temporary copy (a directory with the environment's files; a plain
    /// file from older versions).
    static func remove(_ temporary: String) {
        for directory in [temporary + "/stage", temporary] {
            for name in ["data.mdb", "lock.mdb"] { unlink(directory + "/" + name) }
            if rmdir(directory) != 0 { unlink(directory) }
        }
    }
}

extension EventLog {
    /// Rewrites the log compactly and swaps it in: copies the environment from a read
    /// snapshot without free pages (`mdb_env_copyfd2` with `MDB_CP_COMPACT`), then, in
    /// the copy: collects evicted measures, expires marks older than `cutoffWallNs` when
    /// given, changes the ring size to `retain` when given (keeping each stream's newest
    /// measures); replays what was committed meanwhile; and renames it over `data.mdb`.
    ///
    /// Nobody waits for the copy: readers never wait for a compaction, and writers only
    /// while it holds the gate exclusively to replay the last commits and rename the
    /// file (``CompactionReport/exclusiveHoldNs``). Each process reopens the new file
    /// before its next operation; nothing committed is lost. The maintenance lock is
    /// held throughout, so a second compaction or a repair meanwhile is refused. When
    /// writers keep the gate busy past `timeout`, the compaction gives up and changes
    /// nothing.
    /// - Parameter phase: called as each step begins (on this thread).
    /// - Throws: ``PerfLogError``: `busy` when the gate could not be taken in time or
    ///   another compaction or repair runs; `invalidInput` for a bad `retain`;
    ///   `storage` when writing fails.
    public func compact(
        retain newRetain: Int? = nil, expiringMarksOlderThan cutoffWallNs: Int64? = nil,
        waitingUpTo timeout: Duration = .seconds(10), phase: (CompactionPhase) -> Void = { _ in }
    ) throws(PerfLogError) -> CompactionReport {
        if let newRetain, newRetain < 1 || newRetain > EventLog.maxRetain {
            throw .invalidInput(field: "retain", rule: "must be between 1 and \(EventLog.maxRetain)")
        }
        guard !isReadOnlyOpen else { throw .invalidInput(field: "log", rule: "is open read-only; it cannot be compacted") }
        // A gate file description of the compaction's own, so that its exclusive hold
        // conflicts with this process's writers as with any other's.
        let own = Gate(directory: path, create: false)
        guard own.fd >= 0, gate.fd >= 0 else {
            throw .storage(LMDBError(.permissionDenied, operation: "open", context: path + "/" + Gate.fileName), operation: "compacting the log")
        }
        let deadline = Gate.deadline(after: timeout)
        guard own.lockMaintenance(deadlineNs: deadline, recordingPid: true) else {
            let pid = own.maintenanceHolder().map { " (pid \($0))" } ?? ""
            throw .busy(path: path, reason: "another compaction or repair is running\(pid); nothing was changed")
        }
        defer { own.unlockMaintenance() }
        let temporary = path + "/" + Compaction.temporaryName
        Compaction.remove(temporary)
        do {
            return try compactCopy(into: temporary, own: own, newRetain: newRetain, cutoffWallNs: cutoffWallNs,
                                   timeout: timeout, phase: phase)
        } catch {
            Compaction.remove(temporary)
            throw error
        }
    }

    private func compactCopy(
        into temporary: String, own: Gate, newRetain: Int?, cutoffWallNs: Int64?, timeout: Duration,
        phase: (CompactionPhase) -> Void
    ) throws(PerfLogError) -> CompactionReport {
        func storage(_ body: () throws -> Void) throws(PerfLogError) {
            try PerfLogError.wrapping(operation: "compacting the log", body)
        }
        let before = EventLog.dataFileSize(in: path)
        let liveRetain = retain
        phase(.copying)
        let stage = temporary + "/stage"
        for directory in [temporary, stage] {
            guard mkdir(directory, 0o700) == 0 else {
                throw .storage(LMDBError(.current, operation: "mkdir", context: directory), operation: "compacting the log")
            }
        }
        // A read snapshot of the live log: writers go on meanwhile.
        try copyFile(into: stage) { fd throws(PerfLogError) in
            try storage { try reading { opened in try opened.environment.copy(toFileDescriptor: fd, compact: true) } }
        }
        var staged = try privateEnvironment(stage, size: before)
        var replay = Replay(log: self, copy: staged, liveRetain: liveRetain)
        var report = CompactionReport(
            bytesBefore: before, bytesAfter: 0, retainBefore: liveRetain, retainAfter: newRetain ?? liveRetain,
            measuresTrimmed: 0, repair: RepairReport())
        phase(.repairing)
        try storage {
            try replay.openCopy()
            report.repair = try staged.write { txn in
                var pass = RepairPass(txn: txn, log: self, dbs: replay.dbs, retain: replay.retain)
                return try pass.run(cutoffWallNs: cutoffWallNs)
            }
            if let newRetain, newRetain != replay.retain {
                report.measuresTrimmed = try staged.write { txn in
                    try EventLog.changeRetain(txn, dbs: replay.dbs, from: replay.retain, to: newRetain)
                }
                replay.retain = newRetain
            }
        }
        // What the repair freed is copied out again (from this process's own copy,
        // still with no lock on the log), so that the result is compact. When it
        // changed nothing, it only rewrote the indexes (a few pages): a large first copy
        // is the result, rather than written a second time.
        let result: String
        if report.repair.changedAnything || replay.retain != liveRetain
            || EventLog.dataFileSize(in: stage) < Compaction.singleCopyBytes {
            try copyFile(into: temporary) { fd throws(PerfLogError) in
                do throws(LMDBError) { try staged.copy(toFileDescriptor: fd, compact: true) } catch { throw .storage(error, operation: "compacting the log") }
            }
            staged.close()
            Compaction.remove(stage)
            result = temporary
        } else {
            staged.close()
            result = stage
        }
        staged = try privateEnvironment(result, size: before)
        let copy = staged
        defer { copy.close() }
        replay = Replay(log: self, copy: copy, liveRetain: liveRetain, retain: replay.retain)
        try storage { try replay.openCopy() }

        // Catch up without a lock until what is left is small, then take the gate for
        // the rest and the swap. Giving up the turnstile between tries keeps writers
        // from waiting for longer than its window.
        // The wait bound counts from the first try for the gate: the copy itself keeps
        // no one waiting, however long it takes.
        var passes = 0
        var deadlineNs: UInt64?
        while true {
            var applied = 0
            // Flushing the copy now leaves only the last commits to flush while the
            // gate is held.
            try storage {
                applied = try replay.catchUp()
                try copy.sync(force: true)
            }
            report.eventsCaughtUp += applied
            passes += 1
            if applied > 2_000 && passes < 8 {
                phase(.catchingUp(events: applied))
                continue
            }
            let deadline = deadlineNs ?? Gate.deadline(after: timeout)
            deadlineNs = deadline
            if own.lockExclusive(windowNs: Compaction.turnstileWindowNs, deadlineNs: deadline) { break }
            if EventClock.monotonicNs() >= deadline {
                throw .busy(path: path, reason: "other processes kept it in use for \(timeout); nothing was changed")
            }
            phase(.catchingUp(events: applied))
        }
        let start = EventClock.monotonicNs()
        do {
            defer { own.unlockExclusive() }
            try storage {
                report.eventsCaughtUp += try replay.catchUp()
                try copy.sync(force: true)
            }
            // Every commit is in the copy and no one can commit: replace the file and its
            // lock file (whose reader table and transaction ids belong to the old file).
            copy.close()
            guard rename(result + "/data.mdb", path + "/data.mdb") == 0 else {
                throw .storage(LMDBError(.current, operation: "rename", context: result), operation: "compacting the log")
            }
            unlink(path + "/lock.mdb")
            AtomicFile.syncDirectory(path)
            report.exclusiveHoldNs = EventClock.monotonicNs() - start
        }
        Compaction.remove(temporary)
        phase(.swapped(heldNs: report.exclusiveHoldNs))
        // This process opens the new file now (which also makes its lock file).
        _ = try? reading { _ in }
        report.bytesAfter = EventLog.dataFileSize(in: path)
        report.retainAfter = replay.retain
        return report
    }

    /// Creates `directory/data.mdb` with the log's data file's mode and group (so that
    /// a log shared by a group stays shared whoever compacts it) and has `body` write it
    /// (through a pipe, paced: see ``PacedWrite``).
    private func copyFile(into directory: String, _ body: (Int32) throws(PerfLogError) -> Void) throws(PerfLogError) {
        let file = directory + "/data.mdb"
        let fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
        guard fd >= 0 else {
            throw .storage(LMDBError(.current, operation: "open", context: file), operation: "compacting the log")
        }
        defer { close(fd) }
        var original = stat()
        if stat(path + "/data.mdb", &original) == 0 {
            _ = fchmod(fd, original.st_mode & 0o7777)
            _ = fchown(fd, uid_t.max, original.st_gid)
        }
        try PacedWrite.run(into: fd, body)
    }

    /// Opens a compaction's copy as an environment of this process alone: no lock file,
    /// no syncs until the end.
    private func privateEnvironment(_ directory: String, size: Int) throws(PerfLogError) -> Environment {
        var options = Environment.Options()
        options.createDirectory = false
        options.maxDatabases = 8
        options.mapSize = max(64 << 20, size * 2)
        options.flags = [.noLock, .noSync]
        do { return try Environment(path: directory, options: options) } catch {
            throw .storage(error, operation: "compacting the log")
        }
    }

    /// Re-trims every ring to `newRetain`, keeping the newest measures, and stores the
    /// new size. Returns how many measures were dropped.
    static func changeRetain(_ txn: Transaction, dbs: Databases, from old: Int, to new: Int) throws -> Int {
        var rings: [(UInt32, Ring)] = []
        try txn.withCursor(dbs.streams) { c in
            var entries = try c.entries()
            while let (k, v) = try entries.next() {
                rings.append((Keys.integer32(k), try RingRecord.decode(v, retain: old)))
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
            try txn.putRing(fixed, id: id, in: dbs)
        }
        try txn.putMeta(.retain, UInt32(new), in: dbs.meta)
        return dropped
    }
}
