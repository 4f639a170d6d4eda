#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `perflog.lock` in the log directory, with lock bytes (open-file-description `fcntl`
/// locks, so that each opening is its own holder and a killed process holds nothing):
///
/// - the **gate** (byte 1): writers hold it shared for each commit, and every process
///   holds it shared while it opens the environment; a compaction holds it exclusively
///   only while it applies the last commits to its copy and renames the copy over
///   `data.mdb`. So no commit goes to a file that is being replaced, and no process
///   opens a data file with a lock file that belongs to another. Readers do not hold it
///   while they read: a reader that still has the old file mapped reads a consistent,
///   older snapshot, and reopens before its next operation.
/// - the **turnstile** (byte 0): writers take it briefly, exclusively, on the way into
///   the gate. A compaction holds it for a short window while it waits for the gate,
///   so that a steady stream of commits cannot starve it; readers never take it.
/// - the **maintenance lock** (byte 3): a compaction holds it exclusively from start
///   to end, and a repair holds it while it runs, so that nothing but plain appends
///   (which a compaction replays into its copy) changes the log under a compaction.
///   Whoever opens the log for writing removes a copy left by a killed compaction
///   when it can take this lock, that is, when no compaction runs. The holder's pid is
///   stored at ``pidOffset`` so that a refusal can name it.
///
/// A log in a directory that cannot be written has no gate file unless one exists; it
/// cannot be compacted there either (and no one else can be writing it).
final class Gate: Sendable {
    static let fileName = "perflog.lock"

    /// The open gate file, or -1 when there is none.
    let fd: Int32

    init(directory: String, create: Bool) {
        let path = directory + "/" + Gate.fileName
        var fd = create ? open(path, O_RDWR | O_CREAT | O_CLOEXEC, FileModes.newFile(in: directory)) : -1
        if fd < 0 { fd = open(path, O_RDWR | O_CLOEXEC) }
        if fd < 0 { fd = open(path, O_RDONLY | O_CLOEXEC) }
        self.fd = fd
    }

    deinit {
        if fd >= 0 { close(fd) }
    }

    private static let turnstile: Int = 0, gate: Int = 1, maintenance: Int = 3
    /// Where the maintenance lock's holder writes its pid (8 bytes, little-endian),
    /// away from every lock byte.
    static let pidOffset: off_t = 64

    /// A deadline on the monotonic clock, `wait` from now, in nanoseconds.
    static func deadline(after wait: Duration) -> UInt64 {
        let (seconds, attoseconds) = wait.components
        guard seconds >= 0 else { return EventClock.monotonicNs() }
        let ns = seconds >= Int64(UInt64.max / 2_000_000_000) ? UInt64.max / 2 : UInt64(seconds) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000)
        let now = EventClock.monotonicNs()
        return ns > UInt64.max - now ? UInt64.max : now + ns
    }

    /// A writer's entry: waits (no later than `deadlineNs` on the monotonic clock)
    /// until no compaction is swapping the file, then holds the gate shared. Returns
    /// false, holding nothing, when the deadline passed first.
    func lockShared(deadlineNs: UInt64) -> Bool {
        guard fd >= 0 else { return true }
        guard poll(Gate.turnstile, F_WRLCK, deadlineNs: deadlineNs) else { return false }
        defer { _ = lock(Gate.turnstile, F_UNLCK, wait: false) }
        return poll(Gate.gate, F_RDLCK, deadlineNs: deadlineNs)
    }

    /// An opening's entry: holds the gate shared without the turnstile, so that a
    /// compaction that waits for the gate never delays a reader; it waits only while a
    /// compaction holds the gate for its swap. Returns false, holding nothing, when
    /// `deadlineNs` passed first.
    func lockSharedForOpening(deadlineNs: UInt64) -> Bool {
        guard fd >= 0 else { return true }
        return poll(Gate.gate, F_RDLCK, deadlineNs: deadlineNs)
    }

    /// Ends a shared hold.
    func unlock() {
        guard fd >= 0 else { return }
        _ = lock(Gate.gate, F_UNLCK, wait: false)
    }

    /// Holds the gate exclusively: takes the turnstile (so that new writers queue),
    /// waits for the commits under way to finish, and gives up (holding nothing) after
    /// `windowNs` or at `deadlineNs`, whichever is first, so that writers are never
    /// held back for longer than the window by a compaction that only waits.
    func lockExclusive(windowNs: UInt64, deadlineNs: UInt64) -> Bool {
        guard fd >= 0 else { return false }
        let end = min(deadlineNs, EventClock.monotonicNs() &+ windowNs)
        guard poll(Gate.turnstile, F_WRLCK, deadlineNs: end) else { return false }
        guard poll(Gate.gate, F_WRLCK, deadlineNs: end) else {
            _ = lock(Gate.turnstile, F_UNLCK, wait: false)
            return false
        }
        return true
    }

    /// Ends an exclusive hold.
    func unlockExclusive() {
        guard fd >= 0 else { return }
        _ = lock(Gate.gate, F_UNLCK, wait: false)
        _ = lock(Gate.turnstile, F_UNLCK, wait: false)
    }

    /// Takes the maintenance lock, waiting no later than `deadlineNs`; on success, with
    /// `recordingPid`, stores this process's pid for others to name. Returns false when another holds it.
    func lockMaintenance(deadlineNs: UInt64, recordingPid: Bool) -> Bool {
        guard fd >= 0 else { return false }
        guard poll(Gate.maintenance, F_WRLCK, deadlineNs: deadlineNs) else { return false }
        guard recordingPid else { return true }
        var pid = UInt64(getpid()).littleEndian
        _ = withUnsafeBytes(of: &pid) { pwrite(fd, $0.baseAddress, 8, Gate.pidOffset) }
        return true
    }

    /// Ends the maintenance hold.
    func unlockMaintenance() {
        guard fd >= 0 else { return }
        _ = lock(Gate.maintenance, F_UNLCK, wait: false)
    }

    /// The pid the maintenance lock's holder stored, if any.
    func maintenanceHolder() -> Int32? {
        guard fd >= 0 else { return nil }
        var pid: UInt64 = 0
        let n = withUnsafeMutableBytes(of: &pid) { pread(fd, $0.baseAddress, 8, Gate.pidOffset) }
        guard n == 8 else { return nil }
        let value = UInt64(littleEndian: pid)
        return value > 0 && value <= UInt64(Int32.max) ? Int32(value) : nil
    }

    /// Tries `type` on `byte` until it is granted or the monotonic clock passes
    /// `deadlineNs`, pausing a millisecond between tries (`fcntl` has no timed wait).
    private func poll(_ byte: Int, _ type: Int32, deadlineNs: UInt64) -> Bool {
        while !lock(byte, type, wait: false) {
            if EventClock.monotonicNs() >= deadlineNs { return false }
            var pause = timespec(tv_sec: 0, tv_nsec: 1_000_000)
            nanosleep(&pause, nil)
        }
        return true
    }

    private func lock(_ byte: Int, _ type: Int32, wait: Bool) -> Bool {
        Gate.setByteLock(fd, byte: byte, type: type, wait: wait)
    }

    /// `F_OFD_SETLK(W)` on one byte of a lock file: the one place perflog's byte locks
    /// (turnstile, gate, writer lock, maintenance lock) meet `fcntl`. Open-file-description
    /// locks belong to this opening of the file, not to the process, and are released
    /// when it is closed (or the process dies), so a killed process never leaves one held.
    static func setByteLock(_ fd: Int32, byte: Int, type: Int32, wait: Bool) -> Bool {
        #if os(Linux)
        let setLock: Int32 = wait ? 38 : 37  // F_OFD_SETLKW, F_OFD_SETLK
        #else
        let setLock: Int32 = wait ? F_SETLKW : F_SETLK
        #endif
        var fl = flock()
        fl.l_type = Int16(type)
        fl.l_whence = Int16(SEEK_SET)
        fl.l_start = off_t(byte)
        fl.l_len = 1
        fl.l_pid = 0
        return POSIXIO.retryingInterrupts { fcntl(fd, setLock, &fl) } == 0
    }
}
