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

/// `perflog.lock` in the log directory: every operation of every process holds it
/// shared (`flock`) while it uses the environment; a compaction holds it exclusively
/// while it replaces the file. So no process ever writes to a file that a compaction
/// is replacing, and every process reopens the new file before its next operation.
///
/// A log in a directory that cannot be written has no gate file unless one exists; it
/// cannot be compacted there either.
final class Gate: Sendable {
    static let fileName = "perflog.lock"

    /// The open gate file, or -1 when there is none.
    let fd: Int32

    init(directory: String, create: Bool) {
        let path = directory + "/" + Gate.fileName
        var fd = create ? open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o666) : -1
        if fd < 0 { fd = open(path, O_RDONLY | O_CLOEXEC) }
        self.fd = fd
    }

    deinit {
        if fd >= 0 { close(fd) }
    }

    /// Waits for a shared hold (none while a compaction runs).
    func lockShared() {
        guard fd >= 0 else { return }
        while flock(fd, LOCK_SH) != 0 && errno == EINTR {}
    }

    /// Tries to hold the gate exclusively; `false` while any other process holds it.
    func tryLockExclusive() -> Bool {
        guard fd >= 0 else { return false }
        while true {
            if flock(fd, LOCK_EX | LOCK_NB) == 0 { return true }
            if errno != EINTR { return false }
        }
    }

    func unlock() {
        guard fd >= 0 else { return }
        flock(fd, LOCK_UN)
    }
}
