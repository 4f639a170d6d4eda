import NIOCore
import NIOPosix
@testable import PerfLogService
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("Who is on the other end of a loopback connection")
struct PeerIdentityTests {
    /// A real loopback connection: the server side's addresses as the service sees them.
    func connection(host: String) throws -> (local: SocketAddress, remote: SocketAddress, close: () -> Void) {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let accepted = group.next().makePromise(of: (any Channel).self)
        let server = try ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                accepted.succeed(channel)
                return channel.eventLoop.makeSucceededVoidFuture()
            }
            .bind(host: host, port: 0).wait()
        let port = try #require(server.localAddress?.port)
        let client = try ClientBootstrap(group: group).connect(host: host, port: port).wait()
        let child = try accepted.futureResult.wait()
        let local = try #require(child.localAddress)
        let remote = try #require(child.remoteAddress)
        return (local, remote, {
            try? client.close().wait()
            try? server.close().wait()
            try? group.syncShutdownGracefully()
        })
    }

    @Test("the peer is this process's user, by the kernel's socket diagnostics and by /proc/net/tcp alike",
          arguments: ["127.0.0.1", "::1"])
    func ownerOfALoopbackPeer(host: String) throws {
        let c: (local: SocketAddress, remote: SocketAddress, close: () -> Void)
        do { c = try connection(host: host) } catch {
            // A machine without IPv6 on loopback has nothing to test here.
            try #require(host == "::1", "\(error)")
            return
        }
        defer { c.close() }
        #expect(PeerIdentity.of(local: c.local, remote: c.remote) == .user(getuid()))
        #if os(Linux)
        #expect(PeerIdentity.ownerByDiagnostics(peer: c.remote, ours: c.local) == getuid())
        let row = try #require(PeerIdentity.rowKey(peer: c.remote, ours: c.local))
        #expect(PeerIdentity.ownerInProc(needle: row.key, file: row.v6 ? "/proc/net/tcp6" : "/proc/net/tcp") == getuid())
        #endif
    }

    @Test("a connection that does not exist has no owner: the peer is its address")
    func noSuchConnection() throws {
        let remote = try SocketAddress(ipAddress: "127.0.0.1", port: 9)
        let local = try SocketAddress(ipAddress: "127.0.0.1", port: 9)
        #if os(Linux)
        #expect(PeerIdentity.ownerByDiagnostics(peer: remote, ours: local) == nil)
        #endif
        #expect(PeerIdentity.of(local: local, remote: remote) == .address("127.0.0.1"))
    }
}
