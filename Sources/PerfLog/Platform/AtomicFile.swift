#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Output to a path by ``OutputPath``'s rules, put in place whole: a file is written as
/// a temporary file beside it (beside a link's target: same directory, so the rename
/// stays on one file system), flushed (`fsync`), renamed over it, and the directory
/// flushed; a device or FIFO is written directly.
///
/// A reader (a scraper, a dashboard) sees the old file or the new one, never half of
/// one; a failure, or dropping the value before ``commit()``, leaves the old file as it
/// was and no temporary file behind.
package final class AtomicFile {
    /// A step of writing that failed, with its `errno`.
    package struct Failure: Error {
        /// The steps, in the order they run.
        package enum Step: Sendable, Equatable {
            /// The path names a directory (`code` is `EISDIR`).
            case isDirectory
            /// Opening the device or FIFO the path names.
            case opening
            /// Creating the temporary file in `directory`.
            case creating(directory: String)
            /// Writing the bytes.
            case writing
            /// `fsync` of the temporary file.
            case flushing
            /// `fstat` of what was written.
            case status
            /// `close` of what was written.
            case closing
            /// Renaming the temporary file over the target.
            case renaming
        }

        /// The step that failed.
        package var step: Step
        /// The `errno` value.
        package var code: Int32
    }

    private let fd: Int32
    /// The temporary file and the file it replaces; `nil` for a device or FIFO.
    private let replacing: (temporary: String, target: String)?
    private var finished = false

    /// Starts writing `path`: creates the temporary file beside it (with the mode and
    /// group of the file it replaces), or opens the device or FIFO it names.
    /// - Throws: ``Failure`` at `isDirectory`, `opening` or `creating`.
    package init(writing path: String) throws(Failure) {
        switch OutputPath.resolve(path) {
        case .directory:
            throw Failure(step: .isDirectory, code: EISDIR)
        case .direct(let device):
            // Not retried after EINTR: opening a FIFO waits for a reader, and a signal
            // must be able to end that wait.
            fd = open(device, O_WRONLY | O_CLOEXEC)
            guard fd >= 0 else { throw Failure(step: .opening, code: errno) }
            replacing = nil
        case .replace(let target, let existing):
            let (directory, name) = AtomicFile.split(target)
            var random = SystemRandomNumberGenerator()
            let temporary = directory + "/." + name + ".tmp-" + String(getpid()) + "-"
                + String(random.next() & 0xFFFF_FFFF, radix: 16)
            fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, FileModes.newFile(in: directory))
            guard fd >= 0 else { throw Failure(step: .creating(directory: directory), code: errno) }
            OutputPath.keepMode(of: existing, on: fd)
            replacing = (temporary, target)
        }
    }

    /// Writes all of `bytes`.
    /// - Throws: ``Failure`` at `writing`; the output is then discarded.
    package func write(_ bytes: UnsafeRawBufferPointer) throws(Failure) {
        if let code = POSIXIO.writeAll(fd, bytes) {
            discard()
            throw Failure(step: .writing, code: code)
        }
    }

    /// Finishes the output: for a file, flushes it and renames it over the target, then
    /// flushes the directory; for a device or FIFO, closes it.
    /// - Returns: the status (`fstat`) of what was written, taken before it was closed.
    /// - Throws: ``Failure`` at `flushing`, `status`, `closing` or `renaming`; the target
    ///   is then left as it was.
    @discardableResult
    package func commit() throws(Failure) -> stat {
        precondition(!finished, "an AtomicFile is committed or discarded once")
        finished = true
        func fail(_ step: Failure.Step, _ code: Int32 = errno, closing: Bool = true) -> Failure {
            if closing { _ = systemClose(fd) }
            if let replacing { unlink(replacing.temporary) }
            return Failure(step: step, code: code)
        }
        if replacing != nil && fsync(fd) != 0 { throw fail(.flushing) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw fail(.status) }
        guard systemClose(fd) == 0 else { throw fail(.closing, closing: false) }
        guard let (temporary, target) = replacing else { return st }
        guard rename(temporary, target) == 0 else { throw fail(.renaming, closing: false) }
        AtomicFile.syncDirectory(AtomicFile.split(target).directory)
        return st
    }

    /// Abandons the output: the target keeps its old content.
    package func discard() {
        guard !finished else { return }
        finished = true
        _ = systemClose(fd)
        if let replacing { unlink(replacing.temporary) }
    }

    deinit {
        // Dropped without commit() (an error on the way): no litter.
        discard()
    }

    /// Writes `bytes` to `path` in one go; see the type's rules.
    /// - Returns: the status of what was written.
    /// - Throws: ``Failure`` naming the step that failed.
    @discardableResult
    package static func write(_ bytes: UnsafeRawBufferPointer, to path: String) throws(Failure) -> stat {
        let file = try AtomicFile(writing: path)
        try file.write(bytes)
        return try file.commit()
    }

    /// Flushes the directory at `path` (`fsync` of the directory itself), which makes a
    /// rename or an unlink in it durable. A file system that cannot flush a directory
    /// still has the entries in place, so a failure is ignored.
    package static func syncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 {
            _ = fsync(fd)
            _ = systemClose(fd)
        }
    }

    /// The directory and the file name of `path`: `.` for a name without a slash, `/`
    /// for a name at the root.
    package static func split(_ path: String) -> (directory: String, name: String) {
        guard let slash = path.utf8.lastIndex(of: UInt8(ascii: "/")) else { return (".", path) }
        let directory = String(path[..<slash])
        return (directory.isEmpty ? "/" : directory, String(path[path.index(after: slash)...]))
    }
}
