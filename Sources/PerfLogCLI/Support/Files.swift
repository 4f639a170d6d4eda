import PerfLog
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where a command's output goes: standard output, or a file that is replaced
/// atomically once everything has been written (``OutputPath``'s rules: through a
/// symbolic link to its target, straight into a device or FIFO, never a directory).
///
/// A file is written as a temporary file beside it (same directory, so the rename stays
/// on one file system), flushed, and renamed over the target: a reader (a scraper, a
/// dashboard) sees the old file or the new one, never half of one, and a failure leaves
/// the old file as it was.
final class OutputTarget {
    private let fd: Int32
    /// The file to replace; `nil` for standard output.
    private let path: String?
    private let temporary: String?
    /// The file the temporary file is renamed over (a link's target, not the link).
    private let target: String?
    private var finished = false

    /// Standard output. Unlike ``Terminal/out(_:)``, a failed write is reported: an
    /// export cut short by a full disk must not look like a complete one.
    static func standardOutput() -> OutputTarget { OutputTarget(fd: STDOUT_FILENO, path: nil, temporary: nil, target: nil) }

    private init(fd: Int32, path: String?, temporary: String?, target: String?) {
        self.fd = fd
        self.path = path
        self.temporary = temporary
        self.target = target
    }

    /// Starts writing `path`: creates the temporary file beside it (beside a link's
    /// target), or opens the device or FIFO it names.
    /// - Throws: ``CLIFailure`` (exit 73) when `path` is a directory or the temporary
    ///   file cannot be created (the directory is missing or not writable); 74 when a
    ///   device cannot be opened.
    static func replacing(_ path: String) throws(CLIFailure) -> OutputTarget {
        guard !path.isEmpty else { throw .invalid("out", "must not be empty") }
        switch OutputPath.resolve(path) {
        case .directory:
            throw CLIFailure(.cannotCreate, "cannot write \(path): it is a directory; name a file in it")
        case .direct(let device):
            let fd = open(device, O_WRONLY | O_CLOEXEC)
            guard fd >= 0 else { throw CLIFailure(.ioError, "cannot write \(path): \(FilePath.reason(errno))") }
            return OutputTarget(fd: fd, path: path, temporary: nil, target: nil)
        case .replace(let target, let existing):
            let (directory, name) = FilePath.split(target)
            var random = SystemRandomNumberGenerator()
            let temporary = directory + "/." + name + ".tmp-" + String(getpid()) + "-"
                + String(random.next() & 0xFFFF_FFFF, radix: 16)
            let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, FileModes.newFile(in: directory))
            guard fd >= 0 else {
                throw CLIFailure(.cannotCreate, "cannot write \(path): \(FilePath.reason(errno)) (creating a file in \(directory))")
            }
            OutputPath.keepMode(of: existing, on: fd)
            return OutputTarget(fd: fd, path: path, temporary: temporary, target: target)
        }
    }

    /// Writes all of `text`.
    /// - Throws: ``CLIFailure`` (exit 74) when the write fails; the target is then left
    ///   as it was (for a file) and the temporary file removed.
    func write(_ text: String) throws(CLIFailure) {
        var text = text
        let fd = self.fd
        let failure: Int32? = text.withUTF8 { FilePath.writeAll(fd, $0) }
        if let failure {
            if path == nil { Terminal.standardOutputFailed(failure) }
            let what = path ?? "standard output"
            discard()
            throw CLIFailure(.ioError, "cannot write \(what): \(FilePath.reason(failure))")
        }
    }

    /// Finishes the output: for a file, flushes it and renames it over the target.
    /// - Throws: ``CLIFailure`` (74 when flushing fails, 73 when the rename does); the
    ///   target is then left as it was.
    func commit() throws(CLIFailure) {
        guard !finished, let path else { return }
        finished = true
        guard let temporary, let target else {
            // A device or FIFO, written directly.
            if close(fd) != 0 { throw CLIFailure(.ioError, "cannot write \(path): \(FilePath.reason(errno)) (closing)") }
            return
        }
        if fsync(fd) != 0 {
            let code = errno
            close(fd)
            unlink(temporary)
            throw CLIFailure(.ioError, "cannot write \(path): \(FilePath.reason(code)) (flushing)")
        }
        if close(fd) != 0 {
            let code = errno
            unlink(temporary)
            throw CLIFailure(.ioError, "cannot write \(path): \(FilePath.reason(code)) (closing)")
        }
        guard rename(temporary, target) == 0 else {
            let code = errno
            unlink(temporary)
            throw CLIFailure(.cannotCreate, "cannot write \(path): \(FilePath.reason(code)) (renaming into place)")
        }
        // The rename survives a crash only once the directory is flushed; a file system
        // that cannot flush directories still has the file in place.
        let directory = open(FilePath.split(target).directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directory >= 0 {
            _ = fsync(directory)
            close(directory)
        }
    }

    /// Abandons a file that is being written: the target keeps its old content.
    private func discard() {
        guard !finished, path != nil else { return }
        finished = true
        close(fd)
        if let temporary { unlink(temporary) }
    }

    deinit {
        // A target dropped without commit() (an error on the way) leaves no litter.
        discard()
    }
}

/// Paths and whole-file reads, on the system calls (the tool does not load Foundation).
enum FilePath {
    /// The directory and the file name of `path`.
    static func split(_ path: String) -> (directory: String, name: String) {
        guard let slash = path.utf8.lastIndex(of: UInt8(ascii: "/")) else { return (".", path) }
        let directory = String(path[..<slash])
        return (directory.isEmpty ? "/" : directory, String(path[path.index(after: slash)...]))
    }

    /// The system's message for `code`, e.g. `No such file or directory`.
    static func reason(_ code: Int32) -> String { String(cString: strerror(code)) }

    /// Writes all of `bytes` to `fd`, retrying partial writes and interruptions.
    /// - Returns: `nil` on success, else the `errno` of the failure.
    static func writeAll(_ fd: Int32, _ bytes: UnsafeBufferPointer<UInt8>) -> Int32? {
        var offset = 0
        while offset < bytes.count {
            let n = systemWrite(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n > 0 {
                offset += n
            } else if n < 0 && errno == EINTR {
                continue
            } else {
                return n < 0 ? errno : EIO
            }
        }
        return nil
    }

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
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n > 0 {
                bytes.append(contentsOf: chunk[0..<n])
            } else if n == 0 {
                return .success(bytes)
            } else if errno != EINTR {
                return .failure(ReadFailure(reason: reason(errno)))
            }
        }
    }

    /// Why a file could not be read: the system's message.
    struct ReadFailure: Error {
        var reason: String
    }

    private static func systemWrite(_ fd: Int32, _ bytes: UnsafePointer<UInt8>, _ count: Int) -> Int {
        #if canImport(Glibc)
        Glibc.write(fd, bytes, count)
        #else
        Darwin.write(fd, bytes, count)
        #endif
    }
}
