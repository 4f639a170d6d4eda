#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The device and inode of a file: a compaction replaces `data.mdb` with a new file,
/// and a process notices by comparing this.
struct DataFileIdentity: Hashable, Sendable {
    var device: UInt64
    var inode: UInt64

    init?(path: String) {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        device = UInt64(st.st_dev)
        inode = UInt64(st.st_ino)
    }
}

/// `perflog.lock` in the log directory, with two lock bytes (open-file-description
/// `fcntl` locks, so that each opening is its own holder):
///
/// - the **gate** (byte 1): every operation of every process holds it shared while it
///   uses the environment; a compaction holds it exclusively while it replaces the file.
///   So no process ever uses a file that a compaction is replacing, and each process
///   reopens the new file before its next operation.
/// - the **turnstile** (byte 0): taken briefly, exclusively, on the way into the gate.
///   A compaction keeps it while it waits for the gate, so that a steady stream of
///   operations cannot starve it: new operations queue behind it instead.
///
/// A log in a directory that cannot be written has no gate file unless one exists; it
/// cannot be compacted there either.
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

    private static let turnstile: Int = 0, gate: Int = 1

    /// Waits until no compaction runs or waits, then holds the gate shared.
    func lockShared() {
        guard fd >= 0 else { return }
        _ = lock(Gate.turnstile, F_WRLCK, wait: true)
        _ = lock(Gate.gate, F_RDLCK, wait: true)
        _ = lock(Gate.turnstile, F_UNLCK, wait: false)
    }

    /// Ends a shared hold.
    func unlock() {
        guard fd >= 0 else { return }
        _ = lock(Gate.gate, F_UNLCK, wait: false)
    }

    /// Holds the gate exclusively, waiting for operations under way to finish while new
    /// ones queue; gives up (holding nothing) at `deadlineNs` on the monotonic clock.
    func lockExclusive(deadlineNs: UInt64) -> Bool {
        guard fd >= 0 else { return false }
        for byte in [Gate.turnstile, Gate.gate] {
            while !lock(byte, F_WRLCK, wait: false) {
                if EventClock.monotonicNs() >= deadlineNs {
                    if byte == Gate.gate { _ = lock(Gate.turnstile, F_UNLCK, wait: false) }
                    return false
                }
                var pause = timespec(tv_sec: 0, tv_nsec: 1_000_000)
                nanosleep(&pause, nil)
            }
        }
        return true
    }

    /// Ends an exclusive hold.
    func unlockExclusive() {
        guard fd >= 0 else { return }
        _ = lock(Gate.gate, F_UNLCK, wait: false)
        _ = lock(Gate.turnstile, F_UNLCK, wait: false)
    }

    /// `F_OFD_SETLK(W)` on one byte. Open-file-description locks belong to this opening
    /// of the file, not to the process, and are released when it is closed (or the
    /// process dies), so a killed process never leaves the gate held.
    private func lock(_ byte: Int, _ type: Int32, wait: Bool) -> Bool {
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
        while true {
            if fcntl(fd, setLock, &fl) == 0 { return true }
            if errno != EINTR { return false }
        }
    }
}
