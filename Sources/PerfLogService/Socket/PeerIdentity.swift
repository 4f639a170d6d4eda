import PerfLog
import NIOCore
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Who is on the other end of a TCP connection, for limiting connections per peer.
///
/// On loopback every peer's address is 127.0.0.1 (or ::1), so an address says nothing
/// about who connected. On Linux the kernel lists every TCP socket with its owner's uid
/// (asked for one socket through `sock_diag` netlink, as `ss` does; or, where that is not
/// allowed, found in `/proc/net/tcp` and `/proc/net/tcp6`): the peer's socket is the one
/// whose local end is the connection's remote end and whose remote end is its local end.
/// Where it cannot be found (another machine), the peer is its address.
enum PeerIdentity: Hashable, Sendable, CustomStringConvertible {
    case user(UInt32)
    case address(String)

    var description: String {
        switch self {
        case .user(let uid): return "uid \(uid)"
        case .address(let a): return a
        }
    }

    /// The identity of the peer of a connection from `remote` to `local`.
    static func of(local: SocketAddress?, remote: SocketAddress?) -> PeerIdentity {
        guard let remote else { return .address("?") }
        let fallback = PeerIdentity.address(remote.ipAddress ?? "\(remote)")
        guard let local, let needle = rowKey(peer: remote, ours: local) else { return fallback }
        #if os(Linux)
        if let uid = ownerByDiagnostics(peer: remote, ours: local) { return .user(uid) }
        if let uid = ownerInProc(needle: needle.key, file: needle.v6 ? "/proc/net/tcp6" : "/proc/net/tcp") {
            return .user(uid)
        }
        #endif
        return fallback
    }

    /// The text `/proc/net/tcp{,6}` shows for the peer's socket's two ends,
    /// `LOCAL:PORT REMOTE:PORT` in upper-case hexadecimal (addresses as the kernel's
    /// 32-bit words in host byte order).
    static func rowKey(peer: SocketAddress, ours: SocketAddress) -> (key: String, v6: Bool)? {
        func hex<T: BinaryInteger>(_ v: T, _ width: Int) -> String {
            let s = String(v, radix: 16, uppercase: true)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        func end(_ a: SocketAddress) -> (text: String, v6: Bool)? {
            switch a {
            case .v4(let v4):
                let addr = v4.address.sin_addr.s_addr  // network order in memory; printed as a host-order word
                return (hex(UInt32(addr), 8) + ":" + hex(UInt16(bigEndian: v4.address.sin_port), 4), false)
            case .v6(let v6):
                var words = ""
                withUnsafeBytes(of: v6.address.sin6_addr) { raw in
                    for i in 0..<4 { words += hex(raw.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self), 8) }
                }
                return (words + ":" + hex(UInt16(bigEndian: v6.address.sin6_port), 4), true)
            default: return nil
            }
        }
        guard let p = end(peer), let o = end(ours), p.v6 == o.v6 else { return nil }
        return (p.text + " " + o.text, p.v6)
    }

    #if os(Linux)
    /// The owner of the TCP socket from `peer` to `ours`, asked of the kernel for that one
    /// socket (`SOCK_DIAG_BY_FAMILY` on a `NETLINK_SOCK_DIAG` socket): one round trip,
    /// however many connections are open. Nil when the kernel does not answer it.
    static func ownerByDiagnostics(peer: SocketAddress, ours: SocketAddress) -> UInt32? {
        // struct nlmsghdr (16 bytes), then struct inet_diag_req_v2 (56 bytes), laid out
        // by hand: Glibc's module does not carry <linux/inet_diag.h>.
        var request = [UInt8](repeating: 0, count: 72)
        func put32(_ v: UInt32, at offset: Int) { withUnsafeBytes(of: v) { request.replaceSubrange(offset..<offset + 4, with: $0) } }
        func put16(_ v: UInt16, at offset: Int) { withUnsafeBytes(of: v) { request.replaceSubrange(offset..<offset + 2, with: $0) } }
        func putAddress(_ a: SocketAddress, at offset: Int) -> (family: UInt8, port: UInt16)? {
            switch a {
            case .v4(let v4):
                withUnsafeBytes(of: v4.address.sin_addr) { request.replaceSubrange(offset..<offset + 4, with: $0) }
                return (UInt8(AF_INET), v4.address.sin_port)
            case .v6(let v6):
                withUnsafeBytes(of: v6.address.sin6_addr) { request.replaceSubrange(offset..<offset + 16, with: $0) }
                return (UInt8(AF_INET6), v6.address.sin6_port)
            default: return nil
            }
        }
        put32(72, at: 0)                      // nlmsg_len
        put16(Diagnostics.byFamily, at: 4)    // nlmsg_type
        put16(Diagnostics.request, at: 6)     // nlmsg_flags
        guard let source = putAddress(peer, at: 28), let destination = putAddress(ours, at: 44),
              source.family == destination.family else { return nil }
        request[16] = source.family
        request[17] = UInt8(IPPROTO_TCP)
        put32(UInt32.max, at: 20)             // every state
        put16(source.port, at: 24)            // already in network order
        put16(destination.port, at: 26)
        put32(UInt32.max, at: 64)             // INET_DIAG_NOCOOKIE
        put32(UInt32.max, at: 68)

        let fd = socket(Diagnostics.familyNetlink, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), Diagnostics.protocolSockDiag)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        // The kernel answers at once; the bound only keeps an odd system from holding
        // the event loop.
        var bound = timeval(tv_sec: 0, tv_usec: 200_000)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &bound, socklen_t(MemoryLayout<timeval>.size))
        // struct sockaddr_nl: the kernel is pid 0.
        var kernel = [UInt8](repeating: 0, count: 12)
        withUnsafeBytes(of: UInt16(Diagnostics.familyNetlink)) { kernel.replaceSubrange(0..<2, with: $0) }
        let sent = request.withUnsafeBytes { r in
            kernel.withUnsafeBytes { k in
                sendto(fd, r.baseAddress, r.count, 0, k.baseAddress?.assumingMemoryBound(to: sockaddr.self), socklen_t(k.count))
            }
        }
        guard sent == request.count else { return nil }
        var answer = [UInt8](repeating: 0, count: 4096)
        let n = answer.withUnsafeMutableBytes { a in POSIXIO.retryingInterrupts { recv(fd, a.baseAddress, a.count, 0) } }
        // nlmsghdr, then struct inet_diag_msg, whose idiag_uid is at byte 64 of it. An
        // NLMSG_ERROR answer (no such socket) is shorter or of another type.
        guard n >= 16 + 68 else { return nil }
        let type = answer.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 4, as: UInt16.self) }
        guard type == Diagnostics.byFamily else { return nil }
        return answer.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 16 + 64, as: UInt32.self) }
    }

    /// Constants of `<linux/netlink.h>`, `<linux/sock_diag.h>` and `<linux/inet_diag.h>`.
    private enum Diagnostics {
        static let familyNetlink: Int32 = 16      // AF_NETLINK
        static let protocolSockDiag: Int32 = 4    // NETLINK_SOCK_DIAG
        static let byFamily: UInt16 = 20          // SOCK_DIAG_BY_FAMILY
        static let request: UInt16 = 1            // NLM_F_REQUEST
    }

    /// The uid column of the row of `file` whose ends are `needle`.
    static func ownerInProc(needle: String, file: String) -> UInt32? {
        let fd = open(file, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        let key = Array(needle.utf8)
        // A failed read leaves what was read before it, which is scanned as it is.
        let text = POSIXIO.readAll(fd).bytes
        // Each row: "  N: LOCAL:PORT REMOTE:PORT ST TX:RX TR:WHEN RETRNSMT UID …". Scanned
        // in place: with thousands of connections the table is read at every accept.
        return text.withUnsafeBufferPointer { all -> UInt32? in
            let count = all.count
            var i = 0
            while i < count {
                // The row's first field, "N:", then a space.
                while i < count && all[i] == 0x20 { i += 1 }
                while i < count && all[i] != 0x3A && all[i] != 0x0A { i += 1 }
                var matched = i + 2 + key.count <= count && all[i] == 0x3A && all[i + 1] == 0x20
                if matched {
                    for k in 0..<key.count where all[i + 2 + k] != key[k] {
                        matched = false
                        break
                    }
                }
                if matched {
                    // Skip ST, TX:RX, TR:WHEN and RETRNSMT; the next field is the uid.
                    var j = i + 2 + key.count
                    for _ in 0..<4 {
                        while j < count && all[j] == 0x20 { j += 1 }
                        while j < count && all[j] != 0x20 && all[j] != 0x0A { j += 1 }
                    }
                    while j < count && all[j] == 0x20 { j += 1 }
                    var uid: UInt32 = 0, digits = 0
                    while j < count, all[j] >= 0x30, all[j] <= 0x39, digits < 10 {
                        uid = uid &* 10 &+ UInt32(all[j] - 0x30)
                        j += 1
                        digits += 1
                    }
                    return digits > 0 ? uid : nil
                }
                while i < count && all[i] != 0x0A { i += 1 }
                i += 1
            }
            return nil
        }
    }
    #endif
}

/// Connections open per peer, bounded by ``ServiceLimits/maxConnectionsPerPeer``.
final class PeerConnections: Sendable {
    private let open = Mutex<[PeerIdentity: Int]>([:])
    let limit: Int

    init(limit: Int) { self.limit = limit }

    /// Counts a new connection of `peer`; false (and not counted) when the peer already
    /// has ``limit`` open.
    func admit(_ peer: PeerIdentity) -> Bool {
        open.withLock { o in
            let n = o[peer, default: 0]
            guard n < limit else { return false }
            o[peer] = n + 1
            return true
        }
    }

    /// Uncounts a connection that ``admit(_:)`` counted.
    func release(_ peer: PeerIdentity) {
        open.withLock { o in
            let n = o[peer, default: 1] - 1
            if n <= 0 { o[peer] = nil } else { o[peer] = n }
        }
    }

    /// How many connections `peer` has open.
    func count(_ peer: PeerIdentity) -> Int { open.withLock { $0[peer, default: 0] } }
}
