import PerfLog
import LMDB
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The secret an HTTP client must present (`Authorization: Bearer <token>`) to
/// `POST /events`.
///
/// It is read from a file that only its owner can read, so that a token on the command
/// line (visible to every user in `ps`) is never needed.
public struct HTTPToken: Sendable {
    private let bytes: [UInt8]

    /// The shortest token accepted, in bytes: shorter ones are guessable.
    public static let minimumBytes = 16

    /// The token in the file at `path`: its content without trailing white space.
    /// - Throws: ``ServiceError/tokenFileUnreadable(path:reason:)`` when the file cannot
    ///   be opened or read; ``ServiceError/tokenFileUnsafe(path:reason:)`` when it is not
    ///   a regular file, is not owned by this user, grants any permission to its group
    ///   or others, or does not hold one line of at least ``minimumBytes`` printable
    ///   ASCII bytes.
    public init(contentsOf path: String) throws(ServiceError) {
        func unusable(_ reason: String) -> ServiceError { .tokenFileUnsafe(path: path, reason: reason) }
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            throw .tokenFileUnreadable(path: path, reason: "cannot be read: \(LMDBError.Code.current)")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw .tokenFileUnreadable(path: path, reason: "cannot be read: \(LMDBError.Code.current)")
        }
        let make = "create it with: umask 077; head -c 32 /dev/urandom | base64 > FILE"
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw unusable("is not a regular file; \(make)") }
        guard st.st_uid == geteuid() else { throw unusable("is owned by uid \(st.st_uid), not by this user (uid \(geteuid())); \(make)") }
        guard st.st_mode & 0o077 == 0 else {
            throw unusable("is readable or writable by others (mode \(String(st.st_mode & 0o777, radix: 8))); chmod 600 it, or \(make)")
        }
        let read = POSIXIO.readAll(fd, chunkBytes: 4096, limit: 65_536)
        if let failure = read.failure {
            throw .tokenFileUnreadable(path: path, reason: "cannot be read: \(LMDBError.Code(rawValue: failure))")
        }
        var content = read.bytes
        while let last = content.last, last == 0x20 || last == 0x0A || last == 0x0D || last == 0x09 { content.removeLast() }
        guard content.count >= HTTPToken.minimumBytes else {
            throw unusable("holds \(content.count) bytes; a token needs at least \(HTTPToken.minimumBytes); \(make)")
        }
        guard content.count <= 4096, content.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw unusable("must hold one line of printable ASCII of at most 4096 bytes; \(make)")
        }
        bytes = content
    }

    /// A token with these bytes (for tests).
    package init(bytes: [UInt8]) { self.bytes = bytes }

    /// Whether an `Authorization` header value presents this token as `Bearer <token>`.
    /// The comparison takes the same time whichever byte differs, so that the time of
    /// an answer tells nothing about the token.
    func admits(authorization: String?) -> Bool {
        guard let authorization else { return false }
        let value = Array(authorization.utf8)
        let scheme = Array("bearer ".utf8)
        guard value.count > scheme.count,
              zip(value.prefix(scheme.count), scheme).allSatisfy({ ($0 | 0x20) == $1 }) else { return false }
        let given = value.dropFirst(scheme.count)
        var difference = UInt8(truncatingIfNeeded: given.count ^ bytes.count)
        for i in 0..<bytes.count {
            let g = i < given.count ? given[given.startIndex + i] : 0
            difference |= g ^ bytes[i]
        }
        return difference == 0
    }
}
