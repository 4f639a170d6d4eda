import PerfLog
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where a command's output goes: standard output, or a file that is replaced
/// atomically once everything has been written (``AtomicFile``: by ``OutputPath``'s
/// rules, through a symbolic link to its target, straight into a device or FIFO, never a
/// directory).
///
/// A reader (a scraper, a dashboard) sees the old file or the new one, never half of
/// one, and a failure leaves the old file as it was.
final class OutputTarget {
    /// The file being written; `nil` for standard output, and once finished.
    private var file: AtomicFile?
    /// The path named, for messages; `nil` for standard output.
    private let path: String?

    /// Standard output. Unlike ``Terminal/out(_:)``, a failed write is reported: an
    /// export cut short by a full disk must not look like a complete one.
    static func standardOutput() -> OutputTarget { OutputTarget(file: nil, path: nil) }

    private init(file: AtomicFile?, path: String?) {
        self.file = file
        self.path = path
    }

    /// Starts writing `path`: creates the temporary file beside it (beside a link's
    /// target), or opens the device or FIFO it names.
    /// - Throws: ``CLIFailure`` (exit 73) when `path` is a directory or the temporary
    ///   file cannot be created (the directory is missing or not writable); 74 when a
    ///   device cannot be opened.
    static func replacing(_ path: String) throws(CLIFailure) -> OutputTarget {
        guard !path.isEmpty else { throw .invalid("out", "must not be empty") }
        do {
            return OutputTarget(file: try AtomicFile(writing: path), path: path)
        } catch {
            throw failure(error, path)
        }
    }

    /// Writes all of `text`.
    /// - Throws: ``CLIFailure`` (exit 74) when the write fails; the target is then left
    ///   as it was (for a file) and the temporary file removed.
    func write(_ text: String) throws(CLIFailure) {
        var text = text
        guard let path else {
            let failure = text.withUTF8 { POSIXIO.writeAll(STDOUT_FILENO, UnsafeRawBufferPointer($0)) }
            if let failure {
                Terminal.standardOutputFailed(failure)
            }
            return
        }
        guard let file else { return }
        let written = text.withUTF8 { b in Result { () throws(AtomicFile.Failure) in try file.write(UnsafeRawBufferPointer(b)) } }
        if case .failure(let error) = written {
            self.file = nil
            throw OutputTarget.failure(error, path)
        }
    }

    /// Finishes the output: for a file, flushes it and renames it over the target.
    /// - Throws: ``CLIFailure`` (74 when flushing fails, 73 when the rename does); the
    ///   target is then left as it was.
    func commit() throws(CLIFailure) {
        guard let file, let path else { return }
        self.file = nil
        do { try file.commit() } catch { throw OutputTarget.failure(error, path) }
    }

    /// The message and exit status of a failure writing `path`.
    private static func failure(_ error: AtomicFile.Failure, _ path: String) -> CLIFailure {
        let reason = FilePath.reason(error.code)
        switch error.step {
        case .isDirectory: return CLIFailure(.cannotCreate, "cannot write \(path): it is a directory; name a file in it")
        case .opening, .writing: return CLIFailure(.ioError, "cannot write \(path): \(reason)")
        case .creating(let directory): return CLIFailure(.cannotCreate, "cannot write \(path): \(reason) (creating a file in \(directory))")
        case .flushing: return CLIFailure(.ioError, "cannot write \(path): \(reason) (flushing)")
        case .status: return CLIFailure(.ioError, "cannot write \(path): \(reason) (fstat)")
        case .closing: return CLIFailure(.ioError, "cannot write \(path): \(reason) (closing)")
        case .renaming: return CLIFailure(.cannotCreate, "cannot write \(path): \(reason) (renaming into place)")
        }
    }
}

/// Paths and whole-file reads, on the system calls (the tool does not load Foundation).
enum FilePath {
    /// The system's message for `code`, e.g. `No such file or directory`.
    static func reason(_ code: Int32) -> String { String(cString: strerror(code)) }

    /// Why `path` cannot be read, or `nil` when it can be opened for reading and is not
    /// a directory.
    static func unreadable(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return reason(errno) }
        defer { close(fd) }
        var st = stat()
        if fstat(fd, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR { return reason(EISDIR) }
        return nil
    }

    /// Every byte of the file at `path`, or of standard input for `-`.
    /// - Returns: the bytes, or the reason they could not be read.
    static func readAll(_ path: String) -> Result<[UInt8], ReadFailure> {
        let fd = path == "-" ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return .failure(ReadFailure(reason: reason(errno))) }
        defer { if fd != STDIN_FILENO { close(fd) } }
        let (bytes, failure) = POSIXIO.readAll(fd)
        if let failure { return .failure(ReadFailure(reason: reason(failure))) }
        return .success(bytes)
    }

    /// Why a file could not be read: the system's message.
    struct ReadFailure: Error {
        var reason: String
    }
}
