import Foundation
import PerfLogTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `perflog serve` over its life: taking its socket, stopping (gracefully or killed),
/// its limits, and what it tells clients when the log cannot take their events.
@Suite("perflog serve: start, stop, signals, limits and a log that cannot commit", .timeLimit(.minutes(2)))
struct ServeLifecycleTests {
    @Test("the socket: mode 0600, a live one is not taken over (75), a file is left alone (73), a stale one is replaced, --max-connections")
    func socketFileRules() throws {
        let dir = try scratch()
        let log = dir.file("log"), socket = dir.file("s.sock")
        let service = try Service(log: log, socket: socket, options: ["--max-connections", "1"])
        #expect(service.startup["socket"] as? String == socket && service.startup["log"] as? String == log, "\(service.startup)")
        #expect(service.startup["pid"] as? Int == Int(service.process.process.processIdentifier), "\(service.startup)")
        var st = stat()
        let statted = lstat(socket, &st)
        #expect(statted == 0)
        #expect(st.st_mode & S_IFMT == S_IFSOCK)
        #expect(st.st_mode & 0o777 == 0o600, "mode \(String(st.st_mode & 0o777, radix: 8))")

        // --max-connections 1: the first connection is served, the second is told and closed.
        let first = try Client.unix(socket)
        try first.write(measure("m", "c", invocation: 0x901))
        #expect(first.replies(untilAck: 1).lastAck == 1, "the first service no longer answers on its socket")
        let refused = try Client.unix(socket)
        let refusal = refused.repliesUntilClosed()
        #expect(refusal.closed && refusal.replies.count == 1, "\(refusal)")
        let message = refusal.replies.first.map { decodeObject($0.raw)["error"] as? String } ?? nil
        #expect(message?.contains("too many connections") == true, "\(refusal)")
        try first.write(measure("m", "c", invocation: 0x902))
        #expect(first.replies(untilAck: 2).lastAck == 2)
        first.shutdownWrite()
        #expect(first.repliesUntilClosed().closed)

        // A second service on the same socket: refused, and the first keeps it.
        let second = try CLI.run(["serve", "--log", log, "--socket", socket, "--json"])
        #expect(second.status == 75, "\(second)")
        #expect(second.stdout.isEmpty && second.stderr.contains("another perflog serve is listening"), "\(second)")

        // Once the first client (and the second service's probe) are gone, a new
        // connection is served: the service notices each close on its own event loop, so
        // retry until then, with a deadline.
        try eventually("a new connection is served: connections are refused after the others closed, or the first service lost its socket",
                       within: 10) {
            let next = try Client.unix(socket)
            try next.write(measure("m", "c", invocation: 0x903))
            let replies = next.replies(untilAck: 1, timeout: 5)
            if replies.lastAck == 1 { return true }
            #expect(replies.replies.first?.raw.contains("too many connections") == true, "\(replies)")
            return false
        }
        #expect(Set(try loggedInvocations(log)) == [0x901, 0x902, 0x903])
        let (status, stderr, _) = service.stop()
        #expect(status == 0, "\(stderr)")

        // A regular file where the socket would go: exit 73, the file untouched.
        let file = dir.file("not-a-socket")
        try "keep me\n".write(toFile: file, atomically: true, encoding: .utf8)
        let onFile = try CLI.run(["serve", "--log", log, "--socket", file, "--json"])
        #expect(onFile.status == 73, "\(onFile)")
        #expect(onFile.stdout.isEmpty && onFile.stderr.contains("is not a socket"), "\(onFile)")
        #expect(try String(contentsOfFile: file, encoding: .utf8) == "keep me\n")

        // A stale socket (bound, then abandoned without unlink): replaced.
        let stale = dir.file("stale.sock")
        #expect(abandonSocket(at: stale), "cannot bind \(stale)")
        let replacement = try Service(log: log, socket: stale)
        let client = try Client.unix(stale)
        try client.write(measure("m", "c", invocation: 0x904))
        #expect(client.replies(untilAck: 1).lastAck == 1)
        let (replacedStatus, replacedStderr, _) = replacement.stop()
        #expect(replacedStatus == 0, "\(replacedStderr)")
        #expect(!FileManager.default.fileExists(atPath: stale))
    }

    @Test("kill -9 while a client streams: a restart replaces the stale socket, every acknowledged event is in the log")
    func everyAcknowledgedEventSurvivesKill9() throws {
        let dir = try scratch()
        let log = dir.file("log"), socket = dir.file("s.sock")
        let service = try Service(log: log, socket: socket)
        // Line i goes to stream k<i/100> with invocation 0x60000000+i: no stream gets more
        // than the default ring of 100, so every committed event stays visible.
        let base: UInt64 = 0x6000_0000
        let acked = Locked(0)
        let client = try Client.unix(socket)
        let streamer = Background { () -> (sent: Int, errors: [String]) in
            var next = 1, errors: [String] = []
            var chunk: [UInt8] = [], offset = 0
            let deadline = Date(timeIntervalSinceNow: 40)
            streaming: while Date() < deadline && next < 2_000_000 {
                if offset == chunk.count {
                    chunk = Array((next..<next + 100).map { measure("k\($0 / 100)", "c", invocation: base + UInt64($0)) }.joined().utf8)
                    offset = 0
                    next += 100
                }
                var p = pollfd(fd: client.fd, events: Int16(POLLIN | POLLOUT), revents: 0)
                guard poll(&p, 1, 1000) > 0 else { continue }
                if Int32(p.revents) & Int32(POLLIN | POLLHUP | POLLERR) != 0 {
                    // Every reply already here: the service sent these before it died.
                    while let line = client.nextLine(until: Date()) {
                        let reply = Reply(line)
                        if let ack = reply.ack { acked.withLock { $0 = max($0, ack) } } else { errors.append(line) }
                    }
                    if client.closedByPeer { break streaming }
                }
                if Int32(p.revents) & Int32(POLLOUT) != 0 {
                    let n = client.writeWithoutWaiting(chunk[offset...])
                    if n == 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR {
                        // The service is gone: what it acknowledged is still to be read.
                        while let line = client.nextLine(until: Date(timeIntervalSinceNow: 5)) {
                            if let ack = Reply(line).ack { acked.withLock { $0 = max($0, ack) } } else { errors.append(line) }
                        }
                        break streaming
                    }
                    offset += n
                }
            }
            let sentLines = next - 100 + chunk[..<offset].count(where: { $0 == 0x0A })
            return (sentLines, errors)
        }
        // Kill it mid-stream, once a few thousand lines are acknowledged.
        #expect(acked.wait(timeout: 30) { $0 >= 3000 }, "no acks from the service")
        let killed = service.stop(SIGKILL)
        #expect(killed.status == 128 + SIGKILL)
        let outcome = try #require(streamer.join(), "the client never noticed the service died")
        #expect(outcome.errors.isEmpty, "\(outcome.errors.prefix(5))")
        let lastAck = acked.withLock { $0 }
        #expect(lastAck >= 3000 && lastAck <= outcome.sent, "acknowledged \(lastAck) of \(outcome.sent) lines sent")

        // The socket file is stale now; a new service replaces it.
        var st = stat()
        let statted = lstat(socket, &st)
        #expect(statted == 0 && st.st_mode & S_IFMT == S_IFSOCK, "kill -9 leaves the socket file")
        let restarted = try Service(log: log, socket: socket)
        let probe = try Client.unix(socket)
        try probe.write(measure("after", "c", invocation: 0x6FFF_FFFF))
        #expect(probe.replies(untilAck: 1).lastAck == 1)

        let logged = try loggedInvocations(log)
        #expect(Set(logged).count == logged.count, "an event is in the log twice")
        let present = Set(logged)
        let missing = (1...lastAck).filter { !present.contains(base + UInt64($0)) }
        #expect(missing.isEmpty, "\(missing.count) of \(lastAck) acknowledged events are missing, first \(missing.prefix(5))")
        #expect(present.contains(0x6FFF_FFFF))
        let (status, stderr, _) = restarted.stop()
        #expect(status == 0, "\(stderr)")
        try expectSound(log)
    }

    @Test("a line over --max-line-bytes is refused and skipped; the lines after it are taken, numbered on")
    func oversizedLinesAreSkipped() throws {
        let dir = try scratch()
        let log = dir.file("log"), socket = dir.file("s.sock")
        let tooSmall = try CLI.run(["serve", "--log", log, "--socket", socket, "--max-line-bytes", "1023"])
        #expect(tooSmall.status == 64 && tooSmall.stderr.contains("--max-line-bytes"), "\(tooSmall)")
        let service = try Service(log: log, socket: socket, options: ["--max-line-bytes", "1024"])
        let client = try Client.unix(socket)
        /// A valid measure padded with blanks inside the object to exactly `bytes` bytes.
        func padded(_ invocation: UInt64, to bytes: Int) -> String {
            let line = measure("big", "c", invocation: invocation).dropLast()  // without its line feed
            return String(line.dropLast()) + String(repeating: " ", count: bytes - line.utf8.count) + "}\n"
        }
        let exact = padded(0x305, to: 1024), over = padded(0x306, to: 1025)
        #expect(exact.utf8.count == 1025 && over.utf8.count == 1026)
        let lines = [
            measure("big", "c", invocation: 0x301),          // 1
            padded(0x302, to: 5000),                         // 2: too long, in one piece
            measure("big", "c", invocation: 0x303),          // 3
            padded(0x304, to: 300_000),                      // 4: too long, over many reads
            exact,                                           // 5: exactly the limit
            over,                                            // 6: one byte over
            "{}\n",                                          // 7
            measure("big", "c", invocation: 0x308),          // 8
        ]
        try client.write(lines.joined())
        let replies = client.replies(untilAck: 8)
        #expect(replies.lastAck == 8, "\(replies)")
        #expect(replies.errors.map(\.line) == [2, 4, 6, 7], "\(replies)")
        #expect(replies.errors.prefix(3).allSatisfy { $0.field == nil && $0.error == "is longer than 1024 bytes" }, "\(replies)")
        #expect(replies.errors.last?.field == "kind" && replies.inLineOrder, "\(replies)")

        #expect(try loggedInvocations(log) == [0x301, 0x303, 0x305, 0x308])
        let (status, stderr, _) = service.stop()
        #expect(status == 0, "\(stderr)")
    }

    @Test("a line left without its line feed past --line-timeout is refused and its connection closed; others carry on")
    func lineTimeout() throws {
        let dir = try scratch()
        let log = dir.file("log"), socket = dir.file("s.sock")
        let service = try Service(log: log, socket: socket, options: ["--line-timeout", "1"])
        let stuck = try Client.unix(socket)
        let other = try Client.unix(socket)
        try stuck.write(measure("stuck", "c", invocation: 0x901) + String(measure("stuck", "c", invocation: 0x902).prefix(30)))
        // Nothing more comes from this client: after a second the service gives up on it.
        let replies = stuck.repliesUntilClosed()
        #expect(replies.closed && replies.lastAck == 2, "\(replies)")
        #expect(replies.errors.count == 1 && replies.errors.first?.line == 2
                && replies.errors.first?.error?.hasPrefix("no line feed within 1 s") == true, "\(replies)")
        try other.write(measure("other", "c", invocation: 0x903))
        #expect(other.replies(untilAck: 1).lastAck == 1)
        let (status, stderr, _) = service.stop()
        #expect(status == 0, "\(stderr)")
        #expect(Set(try loggedInvocations(log)) == [0x901, 0x903])
    }

    @Test("a full disk: lines whose commit failed get an error, the connection stays up, recording resumes once space returns")
    func fullDisk() throws {
        let dir = try scratch()
        let disk = dir.file("disk")
        try FileManager.default.createDirectory(atPath: disk, withIntermediateDirectories: true)
        #expect(try runCommand(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", disk]).status == 0, "the fault tests need root to mount a tmpfs")
        defer { _ = try? runCommand(["umount", "-l", disk]) }
        let log = disk + "/log", socket = dir.file("s.sock")
        let service = try Service(log: log, socket: socket)
        let client = try Client.unix(socket)
        let meta = "{" + (0..<16).map { "\"k\($0)\":\"" + String(repeating: "v", count: 250) + "\"" }.joined(separator: ",") + "}"
        func line(_ i: Int) -> String {
            "{\"kind\":\"measure\",\"agent\":\"a\(i % 50)\",\"cli\":\"c\",\"invocation\":\"\(hex(0xF000 + UInt64(i)))\",\"durationMs\":1,\"outcome\":\"ok\",\"meta\":\(meta)}\n"
        }
        // One line at a time, each answered before the next, until a commit fails.
        var committed: Set<UInt64> = []
        var failedLine: Int?
        for i in 1...1_000 {
            try client.write(line(i))
            let replies = client.replies(untilAck: i)
            #expect(replies.lastAck == i, "\(replies)")
            if let error = replies.errors.first {
                #expect(error.line == i && error.error?.contains("no space left") == true, "\(error)")
                failedLine = i
                break
            }
            committed.insert(0xF000 + UInt64(i))
        }
        let failed = try #require(failedLine, "the disk never filled")
        #expect(!committed.isEmpty)
        #expect(try runCommand(["mount", "-o", "remount,size=8m", disk]).status == 0)
        try client.write(line(failed + 1))
        let after = client.replies(untilAck: failed + 1)
        #expect(after.errors.isEmpty && after.lastAck == failed + 1, "\(after)")
        committed.insert(0xF000 + UInt64(failed + 1))
        // The clients were told: the stop is clean, with the loss counted and a warning.
        let (status, stderr, stopped) = service.stop()
        #expect(status == 0, "\(stderr)")
        #expect(stopped?["lost"] as? Int == 1 && stderr.contains("1 event was not stored"), "\(String(describing: stopped)) \(stderr)")
        #expect(Set(try loggedInvocations(log)) == committed)
        try expectSound(log)
    }

    @Test("a stopped process holds the log: lines get 'not stored … resend' within --wait, /healthz says degraded; resent after, nothing is lost")
    func heldLog() throws {
        let dir = try scratch()
        let log = dir.file("log"), socket = dir.file("s.sock")
        let service = try Service(log: log, socket: socket, options: ["--http", "127.0.0.1:0", "--wait", "2s"])
        let port = try #require(service.httpPort)
        let client = try Client.unix(socket)
        try client.write(measure("a", "c", invocation: 0xA01))
        #expect(client.replies(untilAck: 1).errors.isEmpty)

        let holder = try HeldLog(log: log)
        let started = Date()
        try client.write(measure("a", "c", invocation: 0xA02) + measure("b", "c", invocation: 0xA03))
        let held = client.replies(untilAck: 3)
        let elapsed = Date().timeIntervalSince(started)
        print("serve --wait 2s answered lines it could not commit after \(String(format: "%.2f", elapsed)) s")
        #expect(held.lastAck == 3, "\(held)")
        #expect(elapsed < 10, "bounded: the replies came after \(elapsed) s")
        #expect(held.errors.map(\.line) == [2, 3], "\(held)")
        for error in held.errors {
            #expect(error.error?.hasPrefix("not stored: the log is held by pid \(holder.pid)") == true, "\(error)")
            #expect(error.error?.hasSuffix("; resend") == true, "\(error)")
        }
        let degraded = try http(port: port, "GET", "/healthz")
        #expect(degraded.status == 503, "\(degraded)")
        let health = decodeObject(degraded.body)
        #expect(health["status"] as? String == "degraded", "\(degraded)")
        #expect((health["reason"] as? String)?.contains("held by pid \(holder.pid)") == true, "\(degraded)")
        // Readers do not wait for the holder.
        let tail = try CLI.run(["tail", "--json", "--log", log])
        #expect(tail.status == 0 && tail.stdoutLines.count == 1, "\(tail)")

        #expect(holder.release() == 0)
        try client.write(measure("a", "c", invocation: 0xA02) + measure("b", "c", invocation: 0xA03))
        let resent = client.replies(untilAck: 5)
        #expect(resent.errors.isEmpty && resent.lastAck == 5, "\(resent)")
        let healthy = try http(port: port, "GET", "/healthz")
        #expect(healthy.status == 200 && decodeObject(healthy.body)["status"] as? String == "ok", "\(healthy)")

        let (status, stderr, stopped) = service.stop()
        #expect(status == 0, "\(stderr)")
        #expect(stopped?["lost"] as? Int == 2, "\(String(describing: stopped))")
        #expect(Set(try loggedInvocations(log)) == [0xA01, 0xA02, 0xA03])
        try expectSound(log)
    }

    @Test("--project keeps agent-performance.json current while the service runs")
    func projectWhileServing() throws {
        let dir = try scratch()
        let log = dir.file("log"), socket = dir.file("s.sock"), out = dir.file("agent-performance.json")
        let service = try Service(log: log, socket: socket, options: ["--project", "--out", out])
        let client = try Client.unix(socket)
        try client.write((0..<40).map { measure("planner", $0 % 2 == 0 ? "claude" : "codex", invocation: 0xD00 + UInt64($0)) }.joined())
        #expect(client.replies(untilAck: 40).lastAck == 40)
        // Written by the service's recorder after the commit: wait for it, with a deadline.
        var projection: [String: Any] = [:]
        eventually("the projection shows the 40 measures", within: 30) {
            guard let data = FileManager.default.contents(atPath: out),
                  let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                  (json["measurements"] as? [Any])?.count == 40
            else { return false }
            projection = json
            return true
        }
        #expect((projection["measurements"] as? [Any])?.count == 40, "the projection never showed the 40 measures")
        #expect((projection["streams"] as? [[String: Any]])?.map { $0["cli"] as? String } == ["claude", "codex"])
        let (status, stderr, _) = service.stop()
        #expect(status == 0, "\(stderr)")
    }
}

@Suite("perflog serve: the socket file is safe", .timeLimit(.minutes(2)))
struct ServeSocketSafetyTests {
    @Test("a socket in a directory every user may write, without the sticky bit, is refused (73); with the sticky bit it is taken")
    func worldWritableDirectoryWithoutStickyBit() throws {
        let dir = try scratch()
        let open = dir.file("open")
        mkdir(open, 0o777)
        chmod(open, 0o777)
        let r = try CLI.run(["serve", "--log", dir.file("log"), "--socket", open + "/s.sock"])
        #expect(r.status == 73, "\(r)")
        #expect(r.stderr.contains("sticky bit") && r.stderr.split(separator: "\n").count == 1, "\(r)")
        #expect(!FileManager.default.fileExists(atPath: open + "/s.sock"))

        chmod(open, 0o1777)
        let service = try Service(log: dir.file("log"), socket: open + "/s.sock")
        #expect(service.stop().status == 0)
    }

    @Test("at its stop, serve leaves alone a socket another service bound at its path since")
    func doesNotUnlinkAReplacedSocket() throws {
        let dir = try scratch()
        let path = dir.file("s.sock")
        let service = try Service(log: dir.file("log"), socket: path)
        #expect(rename(path, dir.file("moved.sock")) == 0)
        let other = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(other) }
        var address = unixAddress(path)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(other, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        #expect(bound == 0)
        #expect(service.stop().status == 0)
        var st = stat()
        #expect(lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFSOCK, "the other service's socket was removed")
    }
}
