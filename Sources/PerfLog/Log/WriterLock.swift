import LMDB
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// perflog's own writer lock, taken before every LMDB write transaction perflog
/// begins, so that a writer that stops while it holds the log (SIGSTOP, a debugger, a
/// hung file system) makes the others wait at most their deadline instead of for ever:
/// LMDB's writer mutex in `lock.mdb` has no timeout.
///
/// It is byte 2 of `perflog.lock` (bytes 0 and 1 are the ``Gate``'s turnstile and
/// gate), held with an open-file-description `fcntl` lock, so that a process that dies
/// releases it with its descriptor; the holder writes its pid at bytes 16..23 (as a
/// little-endian 64-bit integer) so that a waiter that gives up can name it, since
/// such locks report no owner. Threads of one process share its descriptor, and so
/// the lock; they queue on an in-process lock first.
///
/// A waiter tries once, then polls with pauses growing from 20 µs to 1 ms until its
/// deadline: uncontended, a write costs three system calls more (lock, read the pid,
/// unlock), and a fourth when the last holder was another process (write the pid).
///
/// A log whose `perflog.lock` cannot be opened for writing (read-only media, another
/// user's directory) has no such lock: writes then wait on LMDB's alone, as before.
final class WriterLock: Sendable {
    static let byte: Int = 2
    static let holderOffset: off_t = 16

    /// The log directory, for messages.
    let logPath: String
    private let filePath: String
    private let state = Monitor<State>(State())
    private let released = Monitor<State>.Condition()

    private struct State {
        /// The descriptor of `perflog.lock`: -2 before the first use, -1 when it cannot
        /// be opened.
        var fd: Int32 = -2
        /// Whether a thread of this process holds (or is taking) the lock.
        var held = false
    }

    init(logPath: String) {
        self.logPath = logPath
        filePath = logPath + "/" + Gate.fileName
    }

    deinit {
        state.withLock { s in if s.fd >= 0 { close(s.fd) } }
    }

    /// Runs `body` in a write transaction of `environment`, holding the lock, which it
    /// waits for until the monotonic clock passes `deadlineNs`.
    /// - Throws: ``PerfLogError/busy(path:reason:)`` when the lock stayed held (nothing
    ///   ran), or whatever the transaction throws.
    func write<R>(_ environment: Environment, deadlineNs: UInt64, _ body: (Transaction) throws -> R) throws -> R {
        try lock(deadlineNs: deadlineNs)
        defer { unlock() }
        return try environment.write(body)
    }

    /// Takes the lock, waiting until the monotonic clock passes `deadlineNs`.
    ///
    /// The file is opened (and created, mode 0666 less the umask, like the gate's) on
    /// first use: only writes take this lock, and perflog writes only to a log it has
    /// recognised or is creating.
    /// - Throws: ``PerfLogError/busy(path:reason:)`` naming the holder's pid when the
    ///   deadline passes first; nothing is held then.
    func lock(deadlineNs: UInt64) throws(PerfLogError) {
        let startNs = EventClock.monotonicNs()
        let waitLimit = Duration.nanoseconds(Int64(clamping: deadlineNs &- min(startNs, deadlineNs)))
        var fd: Int32 = -1
        let acquired = state.wait(on: released, deadlineNs: deadlineNs) { s in
            guard !s.held else { return false }
            if s.fd == -2 { s.fd = WriterLock.openFile(filePath) }
            s.held = true
            fd = s.fd
            return true
        }
        guard acquired else { throw busy(fd: state.withLock { $0.fd }, waitLimit: waitLimit) }
        guard fd >= 0 else { return }
        if WriterLock.setLock(fd, F_WRLCK) {
            writeHolder(fd)
            return
        }
        var pauseNs = 20_000
        while true {
            let now = EventClock.monotonicNs()
            if now >= deadlineNs {
                releaseInProcess()
                throw busy(fd: fd, waitLimit: waitLimit)
            }
            let remaining = Int(min(deadlineNs - now, 1_000_000))
            var pause = timespec(tv_sec: 0, tv_nsec: min(pauseNs, remaining))
            nanosleep(&pause, nil)
            if WriterLock.setLock(fd, F_WRLCK) {
                writeHolder(fd)
                return
            }
            pauseNs = min(pauseNs * 2, 1_000_000)
        }
    }

    /// Releases the lock taken by ``lock(deadlineNs:)``.
    func unlock() {
        let fd = state.withLock { $0.fd }
        if fd >= 0 { _ = WriterLock.setLock(fd, F_UNLCK) }
        releaseInProcess()
    }

    private func releaseInProcess() {
        state.withLock { $0.held = false }
        released.signal()
    }

    /// Writes this process's pid as the holder's, unless it is there already: a read
    /// leaves the file (and its modification time) alone, which a write each commit
    /// would not.
    private func writeHolder(_ fd: Int32) {
        let own = getpid()
        if WriterLock.holderPID(fd) == own { return }
        var pid = Int64(own).littleEndian
        _ = withUnsafeBytes(of: &pid) { pwrite(fd, $0.baseAddress, 8, WriterLock.holderOffset) }
    }

    /// The error for a wait that ran out, naming who holds the lock.
    private func busy(fd: Int32, waitLimit: Duration) -> PerfLogError {
        var holder = "another process"
        if fd >= 0, let pid = WriterLock.holderPID(fd) {
            if pid == getpid() {
                holder = "another operation of this process"
            } else {
                holder = "pid \(pid)"
                if let about = ProcessDescription.of(pid) { holder += " (\(about))" }
            }
        }
        return .busy(path: logPath, reason: "the log is held by \(holder) and was not free within \(waitLimit.shortText); nothing was written")
    }

    /// The pid the last holder wrote, if it is a live process.
    static func holderPID(_ fd: Int32) -> Int32? {
        var raw: Int64 = 0
        let n = withUnsafeMutableBytes(of: &raw) { pread(fd, $0.baseAddress, 8, holderOffset) }
        guard n == 8 else { return nil }
        let pid = Int64(littleEndian: raw)
        guard pid > 0, pid <= Int64(Int32.max) else { return nil }
        return Int32(pid)
    }

    private static func openFile(_ path: String) -> Int32 {
        POSIXIO.retryingInterrupts { open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o666) }
    }

    /// `F_OFD_SETLK` on the lock byte: never waits.
    private static func setLock(_ fd: Int32, _ type: Int32) -> Bool {
        ByteLock.set(fd, byte: byte, type: type, wait: false)
    }
}
