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

    /// Makes `path` ready to bind: removes a stale socket.
    /// - Throws: ``ServiceError/socketInUse(path:)`` when a service answers on it;
    ///   ``ServiceError/socket(path:reason:)`` when the path is too long or holds
    ///   something other than a socket.
    static func prepare(_ path: String) throws(ServiceError) {
        guard path.utf8.count <= maxPathBytes else {
            throw .socket(path: path, reason: "is longer than \(maxPathBytes) bytes, the limit of a Unix socket address; pass a shorter --socket")
        }
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        guard (st.st_mode & S_IFMT) == S_IFSOCK else {
            throw .socket(path: path, reason: "exists and is not a socket; it was left untouched")
        }
        if answers(path) { throw .socketInUse(path: path) }
        guard unlink(path) == 0 || errno == ENOENT else {
            throw .socket(path: path, reason: "a stale socket is there and cannot be removed: \(String(cString: strerror(errno)))")
        }
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
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            let bytes = Array(path.utf8.prefix(raw.count - 1))
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        return rc == 0
    }

    /// The inode of the socket file at `path`, to remove it on shutdown only if it is
    /// still ours.
    static func inode(_ path: String) -> UInt64? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        return UInt64(st.st_ino)
    }
}
