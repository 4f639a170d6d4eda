import LMDB
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: Writing the file

extension Projector {
    /// What ``write(log:to:format:now:force:options:)`` writes.
    public enum FileFormat: String, Sendable, Hashable, CaseIterable {
        /// `agent-performance.json` (``Projection/jsonBytes``).
        case projection = "json"
        /// The old tracker's flat array of the retained measures
        /// (``EventExportFormat/seed``), for readers that still expect it.
        case seed
    }

    /// What ``write(log:to:format:now:force:options:)`` did.
    public enum WriteResult: Sendable, Hashable {
        /// The file was (re)written.
        case written
        /// The file already held this projection; it was not touched.
        case unchanged
    }

    /// Writes the projection of the whole log to `path` (`agent-performance.json`),
    /// atomically and only when it would change.
    ///
    /// The file is replaced atomically: the text goes to a temporary file in the same
    /// directory, which is flushed (`fsync`) and renamed over `path`; then the directory
    /// is flushed. A reader sees the old file or the new one, never a mix, and a crash
    /// leaves one of them.
    ///
    /// Unless `force` is set, nothing is written when the file already holds what a
    /// projection would write. A writable log remembers, in a checkpoint stored in the
    /// log (its own small write transaction after the rename), the state it last
    /// projected to this path: when the log has had no commit since, no more open mark
    /// has become abandoned, and the file is the one written then (same device, inode,
    /// size and modification time), the call returns ``WriteResult/unchanged`` without
    /// projecting. Otherwise the projection is made and compared with the file's bytes.
    /// A read-only log cannot store a checkpoint and always compares bytes.
    ///
    /// A file perflog did not write is never replaced without `force`: a regular,
    /// non-empty file is perflog's when it begins as a projection does, or when it is
    /// the very file the log's checkpoint for `path` recorded (a seed array, which
    /// otherwise reads as the old tracker's own).
    ///
    /// - Parameters:
    ///   - path: the file to write; its directory must exist.
    ///   - format: the projection, or the old tracker's flat array.
    ///   - now: the time to judge abandoned marks against, nanoseconds since the Unix
    ///     epoch (the file's content depends on it only through `abandoned`).
    ///   - force: write even when unchanged, and replace a file perflog did not write.
    /// - Throws: ``PerfLogError``: why the log cannot be read,
    ///   ``PerfLogError/notOurs(path:)`` when `path` holds a file perflog did not write
    ///   (and `force` is not set), or
    ///   ``PerfLogError/cannotWrite(path:operation:code:)`` when the file cannot be
    ///   written (the old file is then left as it was). A failure to store the checkpoint
    ///   is not an error: the file is right, and the next call merely projects again.
    @discardableResult
    public static func write(
        log: EventLog, to path: String, format: FileFormat = .projection, now: Int64 = EventClock.wallNs(),
        force: Bool = false, options: Options = Options()
    ) throws(PerfLogError) -> WriteResult {
        let replacesAnything = force
        var options = options
        if format == .seed { options.measurements = true }
        // A device or FIFO is written every time: it cannot be compared, and a reader
        // waits on it.
        var force = force
        var direct = false
        if case .direct = OutputPath.resolve(path) { (force, direct) = (true, true) }
        let key = ProjectionCheckpoint.key(for: canonicalPath(path))
        let optionBits: UInt32 = (options.measurements ? 1 : 0) | (format == .seed ? 2 : 0)
        let cutoff = Statistics.abandonmentCutoff(now: now, abandonAfter: options.abandonAfter)
        let abandonAfterNs = Statistics.abandonAfterNs(options.abandonAfter)

        typealias Snapshot = (projection: Projection, abandoned: UInt64, written: FileIdentity?)
        let snapshot: Snapshot? = try log.read { r -> Snapshot? in
            let abandoned = UInt64(try r.openMarkHeads().reduce(0) { $0 + ($1.head.wallTimeNs < cutoff ? 1 : 0) })
            let saved = try r.projectionCheckpoint(key)
            if !force, let saved, let file = fileIdentity(path: path),
               saved == ProjectionCheckpoint(options: optionBits, abandonAfterNs: abandonAfterNs,
                                             lastSeq: try r.lastSeq(), abandoned: abandoned, file: file) {
                return nil
            }
            return (try project(r, now: now, options: options), abandoned, saved?.file)
        }
        guard let (projection, abandoned, lastWritten) = snapshot else { return .unchanged }
        let bytes = format == .seed ? projection.seedBytes : projection.jsonBytes

        func checkpoint(_ file: FileIdentity) {
            guard !log.isReadOnly, !direct else { return }
            let saved = ProjectionCheckpoint(options: optionBits, abandonAfterNs: abandonAfterNs,
                                             lastSeq: projection.lastSeq, abandoned: abandoned, file: file)
            // Not fatal: without a checkpoint the next call compares bytes instead.
            try? log.storeProjectionCheckpoint(saved, key: key)
        }
        if !force, let file = identityIfHolds(bytes, path: path) {
            checkpoint(file)
            return .unchanged
        }
        if !replacesAnything, !direct, !isPerflogs(path, lastWritten: lastWritten) { throw .notOurs(path: path) }
        checkpoint(try writeAtomically(bytes, to: path))
        return .written
    }

    /// Whether the file at `path` may be replaced without `force`: there is none, it is
    /// empty or not a regular file (``OutputPath`` decides those), it begins as a
    /// projection does, or it is `lastWritten`, the file the log's checkpoint recorded.
    private static func isPerflogs(_ path: String, lastWritten: FileIdentity?) -> Bool {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return true }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_size > 0 else { return true }
        if let lastWritten, identity(st) == lastWritten { return true }
        let signature = Array(Projection.jsonSignature.utf8)
        var head = [UInt8](repeating: 0, count: signature.count)
        let n = head.withUnsafeMutableBytes { b in POSIXIO.retryingInterrupts { systemRead(fd, b.baseAddress, b.count) } }
        return n == signature.count && head == signature
    }

    /// `path` with its directory resolved (`realpath`), so that one file has one
    /// checkpoint whatever the working directory; `path` itself when that fails.
    static func canonicalPath(_ path: String) -> String {
        let (directory, name) = AtomicFile.split(path)
        guard let resolved = realpath(directory, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved) + "/" + name
    }

    private static func identity(_ st: stat) -> FileIdentity {
        #if canImport(Darwin)
        let mtime = st.st_mtimespec
        #else
        let mtime = st.st_mtim
        #endif
        return FileIdentity(device: UInt64(truncatingIfNeeded: st.st_dev), inode: UInt64(truncatingIfNeeded: st.st_ino),
                            size: UInt64(truncatingIfNeeded: st.st_size), modifiedSeconds: Int64(mtime.tv_sec),
                            modifiedNanoseconds: Int64(mtime.tv_nsec))
    }

    static func fileIdentity(path: String) -> FileIdentity? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return identity(st)
    }

    /// The identity of the file at `path` when it holds exactly `bytes`; `nil` when it
    /// differs or cannot be read. Stops at the first differing block.
    private static func identityIfHolds(_ bytes: [UInt8], path: String) -> FileIdentity? {
        // Non-blocking: opening a FIFO to read would wait for a writer.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, Int(st.st_size) == bytes.count else { return nil }
        var block = [UInt8](repeating: 0, count: 1 << 20)
        var offset = 0
        while offset < bytes.count {
            let n = block.withUnsafeMutableBytes { b in POSIXIO.retryingInterrupts { systemRead(fd, b.baseAddress, b.count) } }
            guard n > 0, offset + n <= bytes.count else { return nil }
            let same = bytes.withUnsafeBytes { all in
                block.withUnsafeBytes { memcmp(all.baseAddress! + offset, $0.baseAddress!, n) == 0 }
            }
            guard same else { return nil }
            offset += n
        }
        return identity(st)
    }

    /// Writes `bytes` to `path` through ``AtomicFile`` (replaced atomically; a device or
    /// FIFO written directly). Returns the identity of what was written.
    private static func writeAtomically(_ bytes: [UInt8], to path: String) throws(PerfLogError) -> FileIdentity {
        let written = bytes.withUnsafeBytes { b in Result { () throws(AtomicFile.Failure) in try AtomicFile.write(b, to: path) } }
        switch written {
        case .success(let st):
            return identity(st)
        case .failure(let error):
            let operation = switch error.step {
            case .isDirectory, .writing: "writing"
            case .opening: "opening"
            case .creating(let directory): "creating a temporary file in \(directory)"
            case .flushing: "flushing (fsync)"
            case .status: "fstat"
            case .closing: "closing"
            case .renaming: "renaming into place"
            }
            throw .cannotWrite(path: path, operation: operation, code: LMDBError.Code(rawValue: error.code))
        }
    }
}
