#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A lock on one byte of a lock file: the one place perflog's byte locks (turnstile,
/// gate, writer lock, maintenance lock) meet `fcntl`.
///
/// They are open-file-description locks (`F_OFD_SETLK`): they belong to this opening of
/// the file, not to the process, so two openings in one process exclude each other (a
/// compaction's own gate against its recorder's) and a killed process never leaves one
/// held. Process-wide POSIX locks (`F_SETLK`) keep neither promise, and are not an
/// acceptable fallback: on systems without OFD locks perflog does not build.
package enum ByteLock {
    /// Takes (`F_RDLCK`, `F_WRLCK`) or releases (`F_UNLCK`) the lock on byte `byte` of
    /// `fd`; with `wait`, blocks until it is granted. Returns false when it is held
    /// elsewhere (without `wait`) or `fcntl` failed.
    package static func set(_ fd: Int32, byte: Int, type: Int32, wait: Bool) -> Bool {
        var fl = flock()
        fl.l_type = Int16(type)
        fl.l_whence = Int16(SEEK_SET)
        fl.l_start = off_t(byte)
        fl.l_len = 1
        fl.l_pid = 0  // required of OFD locks
        let command = wait ? LinuxABI.ofdSetLockWait : LinuxABI.ofdSetLock
        return POSIXIO.retryingInterrupts { fcntl(fd, command, &fl) } == 0
    }
}
