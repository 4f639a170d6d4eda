import PerfLog
import LMDB
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The service's Unix socket file: checked before binding, so that a stale file left by
/// a killed service is replaced, a live service is not, and nothing else is ever deleted.
enum SocketFile {
    /// The longest path a Unix socket address holds (without its terminating zero).
    static var maxPathBytes: Int {
        let address = sockaddr_un()
        return MemoryLayout.size(ofValue: address.sun_path) - 1
    }

    /// Takes the lock that makes one service the owner of `path`: byte 0 of
    /// `path.lock`, held until the returned descriptor is closed (a killed service holds
    /// nothing). Under it, checking for a live service, removing a stale socket and
    /// binding are one step: two services started at once (two clients that each found
    /// no service) end as one, the other told ``ServiceError/socketInUse(path:)``,
    /// instead of one removing the socket the other has bound but not yet listens on.
    ///
    /// The lock file stays: removing it would let a third service lock a new file while
    /// a second still holds the old one.
    /// - Throws: ``ServiceError/socketInUse(path:)`` when another service holds it;
    ///   ``ServiceError/socket(path:reason:)`` when the lock file cannot be opened.
    static func lock(_ path: String) throws(ServiceError) -> Int32 {
        let lockPath = path + ".lock"
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else {
            throw .socket(path: path, reason: "cannot open its lock file \(lockPath): \(LMDBError.Code.current)")
        }
        guard ByteLock.set(fd, byte: 0, type: Int32(F_WRLCK), wait: false) else {
            close(fd)
            throw .socketInUse(path: path)
        }
        return fd
    }

    /// Makes `path` ready to bind: takes its lock (``lock(_:)``) and removes a stale
    /// socket.
    /// - Returns: the descriptor that holds the lock; closing it lets another service
    ///   take the path.
    /// - Throws: ``ServiceError/socketInUse(path:)`` when a service answers on it or
    ///   holds its lock; ``ServiceError/socket(path:reason:)`` when the path is too
    ///   long, holds something other than a socket, or is in a directory that every
    ///   user may write without the sticky bit (any of them could rename the socket
    ///   away and bind their own in its place, to read what clients send).
    static func prepare(_ path: String) throws(ServiceError) -> Int32 {
        guard path.utf8.count <= maxPathBytes else {
            throw .socket(path: path, reason: "is longer than \(maxPathBytes) bytes, the limit of a Unix socket address; pass a shorter --socket")
        }
        let directory = AtomicFile.split(path).directory
        var dir = stat()
        if stat(directory, &dir) == 0, dir.st_mode & S_IWOTH != 0, dir.st_mode & S_ISVTX == 0 {
            throw .socket(path: path, reason: "is in \(directory), which every user may write and which lacks the sticky bit: another user could replace the socket; put it in a directory of your own (--socket PATH)")
        }
        let lockFD = try lock(path)
        do throws(ServiceError) {
            var st = stat()
            guard lstat(path, &st) == 0 else { return lockFD }
            guard (st.st_mode & S_IFMT) == S_IFSOCK else {
                throw .socket(path: path, reason: "exists and is not a socket; it was left untouched")
            }
            // A service of an older perflog holds no lock file: ask the socket too.
            if answers(path) { throw .socketInUse(path: path) }
            guard unlink(path) == 0 || errno == ENOENT else {
                throw .socket(path: path, reason: "a stale socket is there and cannot be removed: \(LMDBError.Code.current)")
            }
            return lockFD
        } catch {
            close(lockFD)
            throw error
        }
    }

    /// Binds a new Unix socket at `path`, mode 0600 from its first moment (created under
    /// umask 0177), and returns its descriptor and the identity of its file.
    ///
    /// The service binds it itself, not through NIO: a socket NIO binds is unlinked by
    /// path when it closes, even when the path names another service's socket by then.
    /// - Throws: ``ServiceError/socket(path:reason:)`` when it cannot be created or bound.
    static func bind(_ path: String) throws(ServiceError) -> (fd: Int32, identity: Identity?) {
        #if canImport(Glibc)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        #else
        let fd = socket(AF_UNIX, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw .socket(path: path, reason: "cannot listen: \(LMDBError.Code.current)") }
        var address = unixAddress(path)
        let oldMask = umask(0o177)
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { systemBind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        let code = LMDBError.Code.current
        umask(oldMask)
        guard rc == 0 else {
            close(fd)
            throw .socket(path: path, reason: "cannot listen: \(code)")
        }
        return (fd, identity(path))
    }

    private static func systemBind(_ fd: Int32, _ address: UnsafePointer<sockaddr>, _ length: socklen_t) -> Int32 {
        #if canImport(Glibc)
        Glibc.bind(fd, address, length)
        #else
        Darwin.bind(fd, address, length)
        #endif
    }

    /// The `sockaddr_un` of `path` (cut to the longest path it holds; callers check
    /// ``maxPathBytes`` first).
    private static func unixAddress(_ path: String) -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            let bytes = Array(path.utf8.prefix(raw.count - 1))
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return address
    }

    /// Whether something accepts connections on the socket at `path`.
    static func answers(_ path: String) -> Bool {
        #if canImport(Glibc)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_UNIX, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = unixAddress(path)
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        return rc == 0
    }

    /// The device and inode of the socket file at `path`, to remove it on shutdown only
    /// if it is still the one this service bound (not one another service bound since).
    static func identity(_ path: String) -> Identity? {
        var st = stat()
        guard lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFSOCK else { return nil }
        return Identity(device: UInt64(truncatingIfNeeded: st.st_dev), inode: UInt64(truncatingIfNeeded: st.st_ino))
    }

    /// A file's device and inode.
    struct Identity: Hashable, Sendable {
        var device: UInt64
        var inode: UInt64
    }
}
