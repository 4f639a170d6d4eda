import Foundation
import PerfLogTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `perflog serve` as clients of its Unix socket see it: lines in, acks and errors out,
/// every acknowledged event committed once. The harness is in ServeSupport.swift.
@Suite("perflog serve: NDJSON lines over the socket", .timeLimit(.minutes(2)))
struct ServeSocketTests {
    @Test("16 clients at once, 3,000 events each: each gets {\"ack\":3000}, the log holds every event exactly once")
    func concurrentClientsAreAllCommittedOnce() throws {
        let dir = try scratch()
        let log = dir.file("log"), socket = dir.file("s.sock")
        let service = try Service(log: log, socket: socket)
        let clients = 16, perClient = 3000, streamsPerClient = 30
        // 480 streams of exactly 100 measures: the default ring keeps all of them.
        let invocation: @Sendable (Int, Int) -> UInt64 = { c, i in UInt64(c + 1) << 32 | UInt64(i) }

        let connections = try (0..<clients).map { _ in try Client.unix(socket) }
        let start = Locked(false)
        let workers = connections.enumerated().map { c, client in
            Background { () -> Result<Replies, ServeTestFailure> in
                var bytes: [UInt8] = []
                bytes.reserveCapacity(perClient * 110)
                for i in 0..<perClient {
                    bytes += measure("t\(c)", "s\(i % streamsPerClient)", invocation: invocation(c, i), ms: 1 + i % 50).utf8
                }
                _ = start.wait(timeout: 30) { $0 }
                do { try client.write(bytes) } catch let failure as ServeTestFailure { return .failure(failure) } catch {
                    return .failure(ServeTestFailure("\(error)"))
                }
                return .success(client.replies(untilAck: perClient))
            }
        }
        start.withLock { $0 = true }
        for (c, worker) in workers.enumerated() {
            switch worker.join() {
            case .success(let replies)?:
                #expect(replies.lastAck == perClient, "client \(c): \(replies)")
                #expect(replies.errors.isEmpty, "client \(c): \(replies)")
            case .failure(let failure)?: Issue.record("client \(c): \(failure)")
            case nil: Issue.record("client \(c) did not finish")
            }
        }

        let (status, stderr, stopped) = service.stop()
        #expect(status == 0, "\(stderr)")
        #expect(stderr.isEmpty, "\(stderr)")
        #expect(stopped?["lines"] as? Int == clients * perClient, "\(String(describing: stopped))")
        #expect(stopped?["committed"] as? Int == clients * perClient, "\(String(describing: stopped))")
        #expect(stopped?["rejected"] as? Int == 0, "\(String(describing: stopped))")
        #expect(stopped?["connections"] as? Int == clients, "\(String(describing: stopped))")
        #expect(!FileManager.default.fileExists(atPath: socket), "the socket file is left after a graceful stop")

        let logged = try loggedInvocations(log)
        #expect(logged.count == clients * perClient)
        let expected = Set((0..<clients).flatMap { c in (0..<perClient).map { invocation(c, $0) } })
        #expect(Set(logged) == expected, "\(Set(logged).symmetricDifference(expected).count) invocations differ")
        try expectSound(log)
    }

    @Test("malformed lines get an error naming their line and field; the valid lines beside them are committed")
    func malformedLinesAreRefusedOneByOne() throws {
        let dir = try scratch()
        let log = dir.file("log"), socket = dir.file("s.sock")
        let service = try Service(log: log, socket: socket)
        let client = try Client.unix(socket)
        let lines = [
            measure("a", "c", invocation: 0x201),                                                     // 1
            "this is not JSON\n",                                                                     // 2
            measure("a", "c", invocation: 0x203),                                                     // 3
            "{\"kind\":\"measure\",\"agent\":\"a\",\"cli\":\"c\",\"durationMs\":-5,\"outcome\":\"ok\"}\n",       // 4
            "{\"kind\":\"measure\",\"agent\":\"a\",\"cli\":\"c\",\"durationMs\":5,\"outcome\":\"ok\",\"colour\":\"red\"}\n", // 5
            "\n",                                                                                     // 6: blank, skipped
            "{\"kind\":\"measure\",\"agent\":\"a\",\"cli\":\"c\",\"invocation\":\"0000000000000207\",\"durationMs\":5}\n", // 7
            measure("a", "c", invocation: 0x208),                                                     // 8
        ]
        try client.write(lines.joined())
        let first = client.replies(untilAck: lines.count)
        #expect(first.lastAck == lines.count, "\(first)")
        let errors = first.errors
        #expect(errors.map(\.line) == [2, 4, 5, 7], "\(first)")
        #expect(errors.map(\.field) == [nil, "durationMs", "colour", "outcome"], "\(first)")
        #expect(errors.allSatisfy { ($0.error ?? "").isEmpty == false }, "\(first)")
        #expect(errors.first.map { !$0.raw.contains("\"field\"") } == true, "a line that is not JSON names no field: \(first)")
        #expect(errors.count == 4 && errors[1].error == "must not be negative", "\(first)")
        #expect(first.inLineOrder, "\(first)")

        // The connection is still up: more lines, numbered on.
        try client.write(measure("a", "c", invocation: 0x209) + "{\"kind\":\"mark\",\"agent\":\"a\",\"cli\":\"c\"}\n")
        let second = client.replies(untilAck: 10)
        #expect(second.lastAck == 10, "\(second)")
        #expect(second.errors.map(\.line) == [10] && second.errors.first?.field == "invocation" && second.inLineOrder, "\(second)")

        let logged = try loggedInvocations(log)
        #expect(logged == [0x201, 0x203, 0x208, 0x209])
        let (status, stderr, stopped) = service.stop()
        #expect(status == 0, "\(stderr)")
        #expect(stopped?["committed"] as? Int == 4 && stopped?["rejected"] as? Int == 5, "\(String(describing: stopped))")
    }

    @Test("half-closed with an unterminated last line: acks, an error for the cut line, then the service closes")
    func halfCloseRefusesTheUnterminatedLine() throws {
        let dir = try scratch()
        let log = dir.file("log"), socket = dir.file("s.sock")
        let service = try Service(log: log, socket: socket)
        let client = try Client.unix(socket)
        // The last line would be valid with its line feed: it must still be refused.
        let cut = String(measure("h", "c", invocation: 0x404).dropLast())
        try client.write(measure("h", "c", invocation: 0x401) + measure("h", "c", invocation: 0x402)
                         + measure("h", "c", invocation: 0x403) + cut)
        client.shutdownWrite()
        let replies = client.repliesUntilClosed()
        #expect(replies.closed, "the service did not close the connection: \(replies)")
        #expect(replies.errors.count == 1, "\(replies)")
        let error = try #require(replies.errors.first)
        #expect(error.line == 4 && error.field == nil, "\(replies)")
        #expect(error.error?.hasPrefix("ends without a line feed") == true, "\(replies)")
        let errorIndex = try #require(replies.replies.firstIndex { $0.ack == nil })
        #expect(replies.replies[..<errorIndex].contains { $0.ack == 3 }, "the complete lines are acknowledged first: \(replies)")
        #expect(replies.replies.last?.ack == 4 && replies.inLineOrder, "\(replies)")

        #expect(try loggedInvocations(log) == [0x401, 0x402, 0x403])
        let (status, stderr, stopped) = service.stop()
        #expect(status == 0, "\(stderr)")
        #expect(stopped?["committed"] as? Int == 3 && stopped?["rejected"] as? Int == 1, "\(String(describing: stopped))")
    }

    @Test("a client killed mid-line: its complete lines are committed, the others are served, the log stays sound")
    func clientKilledMidLine() throws {
        let dir = try scratch()
        let log = dir.file("log"), socket = dir.file("s.sock")
        let service = try Service(log: log, socket: socket)
        let other = try Client.unix(socket)
        try other.write(measure("other", "c", invocation: 0x511))
        #expect(other.replies(untilAck: 1).lastAck == 1)

        // Three lines acknowledged, three more sent with half a line, then SIGKILL.
        let script = """
            import os, socket, sys
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(sys.argv[1])
            def line(i):
                return ('{"kind":"measure","agent":"py","cli":"c","invocation":"%016x","durationMs":%d,"outcome":"ok"}\\n' % (0x500 + i, i)).encode()
            s.sendall(line(1) + line(2) + line(3))
            got = b""
            while b'{"ack":3}' not in got:
                chunk = s.recv(4096)
                if not chunk:
                    sys.exit("closed before the ack: %r" % got)
                got += chunk
            print("acked", flush=True)
            s.sendall(line(4) + line(5) + line(6) + line(7)[:50])
            os.kill(os.getpid(), 9)
            """
        let (pyStatus, pyOutput) = try runProgram("/usr/bin/env", ["python3", "-c", script, socket])
        #expect(pyStatus == 128 + SIGKILL, "\(pyOutput)")
        #expect(pyOutput == "acked\n", "\(pyOutput)")

        // The other client is still served, and so is a new one.
        try other.write(measure("other", "c", invocation: 0x512))
        #expect(other.replies(untilAck: 2).lastAck == 2)
        let late = try Client.unix(socket)
        try late.write(measure("late", "c", invocation: 0x513))
        let lateReplies = late.replies(untilAck: 1)
        #expect(lateReplies.lastAck == 1 && lateReplies.errors.isEmpty, "\(lateReplies)")

        // Lines 4–6 were never acknowledged (the client died): wait, with a deadline, for
        // the service to commit them.
        let wanted: Set<UInt64> = [0x501, 0x502, 0x503, 0x504, 0x505, 0x506, 0x511, 0x512, 0x513]
        var logged: [UInt64] = []
        try eventually("the service committed the lines the client sent before it died", within: 20) {
            logged = try loggedInvocations(log)
            return Set(logged) == wanted
        }
        #expect(Set(logged) == wanted, "the log holds \(logged.map { hex($0) })")
        #expect(!logged.contains(0x507), "half a line was recorded")

        let (status, stderr, _) = service.stop()
        #expect(status == 0, "\(stderr)")
        #expect(Set(try loggedInvocations(log)) == wanted)
        try expectSound(log)
    }

    @Test("a client that never reads its replies, or holds half a line, does not hold up another client")
    func slowClientsSlowOnlyThemselves() throws {
        let dir = try scratch()
        let log = dir.file("log"), socket = dir.file("s.sock")
        let service = try Service(log: log, socket: socket)

        // Lines that each earn an error reply 20 times their size: the replies pile up
        // unread until the service must stop reading from this client.
        let slow = try Client.unix(socket)
        let junk = Array(String(repeating: "{}\n", count: 21_845).utf8)
        var written = 0
        let cap = 64 << 20
        while written < cap {
            // From where the last write stopped, mid-line or not.
            let n = slow.writeWithoutWaiting(junk[(written % 3)...])
            if n == 0 { break }  // full: the service is not taking more
            written += n
        }
        #expect(written < cap, "the service read \(written) bytes from a client that reads none of its replies")

        let holder = try Client.unix(socket)
        try holder.write("{\"kind\":\"measure\",\"agent\":\"half\",")

        let good = try Client.unix(socket)
        // Five streams of 100: the default ring keeps every one.
        let lines = (1...500).map { measure("good\($0 % 5)", "c", invocation: 0x800 + UInt64($0)) }
        try good.write(lines.joined(), timeout: 20)
        let replies = good.replies(untilAck: 500, timeout: 20)
        #expect(replies.lastAck == 500 && replies.errors.isEmpty, "\(replies)")

        // The holder finishes its line; it is taken like any other.
        try holder.write("\"cli\":\"c\",\"invocation\":\"0000000000000a00\",\"durationMs\":3,\"outcome\":\"ok\"}\n")
        let held = holder.replies(untilAck: 1)
        #expect(held.lastAck == 1 && held.errors.isEmpty, "\(held)")

        // The slow client catches up: it finishes its last line and reads; every line
        // it sent is answered.
        let pendingLine = (3 - written % 3) % 3
        try slow.write(Array(junk[(written % 3)..<(written % 3 + pendingLine)]))
        let slowLines = (written + pendingLine) / 3
        let caughtUp = slow.replies(untilAck: slowLines)
        #expect(caughtUp.lastAck == slowLines, "sent \(slowLines) lines: \(caughtUp)")
        #expect(caughtUp.replies.filter { $0.raw.hasPrefix("{\"line\":") }.count == slowLines, "\(caughtUp)")
        slow.shutdownWrite()
        let end = slow.repliesUntilClosed()
        #expect(end.closed && end.replies.isEmpty, "\(end)")

        var expected = Set(lines.indices.map { 0x801 + UInt64($0) })
        expected.insert(0xA00)
        let logged = Set(try loggedInvocations(log))
        #expect(logged == expected, "missing \(expected.subtracting(logged).count), unexpected \(logged.subtracting(expected).count)")
        let (status, stderr, _) = service.stop()
        #expect(status == 0, "\(stderr)")
    }

    /// How a connection ends while its client has not read its replies yet.
    enum LateEnding: String, CaseIterable, CustomTestStringConvertible {
        case halfClose = "the client half-closes"
        case gracefulStop = "the service is stopped with SIGTERM"
        var testDescription: String { rawValue }
    }

    @Test("a client that reads late still gets every reply before the service closes", arguments: LateEnding.allCases)
    func lateReaderGetsEveryReply(_ ending: LateEnding) throws {
        let dir = try scratch()
        let log = dir.file("log"), socket = dir.file("s.sock")
        let service = try Service(log: log, socket: socket, options: ["--http", "127.0.0.1:0"])
        let port = try #require(service.httpPort)
        let client = try Client.unix(socket)
        // 20,000 refused lines (a megabyte and more of error replies), then one to commit.
        let bad = 20_000
        try client.writeWithoutReading(Array((String(repeating: "{}\n", count: bad) + measure("late", "c", invocation: 0xB01)).utf8))
        if ending == .halfClose { client.shutdownWrite() }
        // Only once the service has answered every line does the client start reading.
        try waitForCounters(port: port, committed: 1, rejected: bad)
        if ending == .gracefulStop { service.process.send(SIGTERM) }
        let replies = client.repliesUntilClosed()
        #expect(replies.closed, "\(replies)")
        #expect(replies.replies.count(where: { $0.ack == nil }) == bad, "\(replies)")
        #expect(replies.lastAck == bad + 1, "line \(bad + 1) was committed but never acknowledged: \(replies)")
        #expect(try loggedInvocations(log) == [0xB01])
        let (status, stderr) = ending == .gracefulStop ? service.process.wait() : { let r = service.stop(); return (r.status, r.stderr) }()
        #expect(status == 0, "\(stderr)")
    }

    @Test("a mark, then a measure without durationMs: one measure, timed from the mark")
    func markThenMeasureIsTimedByTheService() throws {
        let dir = try scratch()
        let log = dir.file("log"), socket = dir.file("s.sock")
        let service = try Service(log: log, socket: socket)
        let client = try Client.unix(socket)
        try client.write("{\"kind\":\"mark\",\"agent\":\"a\",\"cli\":\"c\",\"invocation\":\"ab12\"}\n")
        let marked = client.replies(untilAck: 1)
        #expect(marked.lastAck == 1 && marked.errors.isEmpty, "\(marked)")
        let inFlight = try tailEvents(log)
        #expect(inFlight.count == 1 && inFlight.first?["kind"] as? String == "mark", "\(inFlight)")

        try client.write("{\"kind\":\"measure\",\"invocation\":\"ab12\",\"outcome\":\"ok\"}\n")
        let measured = client.replies(untilAck: 2)
        #expect(measured.lastAck == 2 && measured.errors.isEmpty, "\(measured)")
        let events = try tailEvents(log)
        #expect(events.count == 1, "the mark is still in flight, or the measure is missing: \(events)")
        let event = try #require(events.first)
        #expect(event["kind"] as? String == "measure")
        #expect(event["invocation"] as? String == "000000000000ab12")
        #expect(event["agent"] as? String == "a" && event["cli"] as? String == "c")
        #expect(event["outcome"] as? String == "ok")
        // The time between the two lines includes a whole `perflog tail` run.
        #expect((event["durationMs"] as? Double ?? 0) > 0, "\(event)")

        // Ending it again names no invocation in flight.
        try client.write("{\"kind\":\"measure\",\"invocation\":\"ab12\",\"outcome\":\"ok\"}\n")
        let again = client.replies(untilAck: 3)
        #expect(again.errors.map(\.line) == [3] && again.errors.first?.field == "invocation", "\(again)")

        // A mark left in flight when the service stops (SIGINT, as Ctrl-C) is ended after
        // a restart: through the log's open mark.
        try client.write("{\"kind\":\"mark\",\"agent\":\"a\",\"cli\":\"c\",\"invocation\":\"cd34\"}\n")
        #expect(client.replies(untilAck: 4).lastAck == 4)
        let (status, stderr, stopped) = service.stop(SIGINT)
        #expect(status == 0, "\(stderr)")
        #expect(stopped?["committed"] as? Int == 3, "\(String(describing: stopped))")
        let restarted = try Service(log: log, socket: socket)
        let next = try Client.unix(socket)
        try next.write("{\"kind\":\"measure\",\"invocation\":\"cd34\",\"outcome\":\"failed\",\"exitCode\":2}\n")
        let ended = next.replies(untilAck: 1)
        #expect(ended.lastAck == 1 && ended.errors.isEmpty, "\(ended)")
        let (restartedStatus, restartedStderr, _) = restarted.stop()
        #expect(restartedStatus == 0, "\(restartedStderr)")
        let final = try tailEvents(log)
        #expect(final.count == 2 && final.allSatisfy { $0["kind"] as? String == "measure" }, "\(final)")
        let cd34 = final.first { $0["invocation"] as? String == "000000000000cd34" }
        #expect(cd34?["outcome"] as? String == "failed" && cd34?["exitCode"] as? Int == 2 && cd34?["agent"] as? String == "a", "\(final)")
        #expect((cd34?["durationMs"] as? Double ?? 0) > 0, "\(final)")
        try expectSound(log)
    }

    @Test("however the bytes are cut into writes, the service finds the same lines: same errors, same final ack, same log")
    func linesDoNotDependOnHowTheyArrive() throws {
        // Valid, invalid, blank, CR LF, over-long (in one write and across many) lines.
        var text = ""
        var valid: Set<UInt64> = []
        for i in 0..<120 {
            switch i % 8 {
            case 0: text += "\n"
            case 1: text += "{\"kind\":\"measure\",\"agent\":\"x\"}\n"
            case 2: text += String(repeating: "z", count: 1500 + i) + "\n"
            case 3: text += "not json at all\r\n"
            default:
                text += measure("cut", "c", invocation: 0xE00 + UInt64(i), ms: i).dropLast() + "\r\n"
                valid.insert(0xE00 + UInt64(i))
            }
        }
        let bytes = Array(text.utf8)
        var outcomes: [[String]] = []
        for seed in [1, 2, 3] as [UInt64] {
            let dir = try scratch()
            let log = dir.file("log"), socket = dir.file("s.sock")
            let service = try Service(log: log, socket: socket, options: ["--max-line-bytes", "1024"])
            let client = try Client.unix(socket)
            // Pieces of 1 to 97 bytes (seed 1 sends it all at once).
            var rng = SystemRandomNumberGenerator()
            var offset = 0
            while offset < bytes.count {
                let piece = seed == 1 ? bytes.count : Int.random(in: 1...97, using: &rng)
                let end = min(bytes.count, offset + piece)
                try client.write(Array(bytes[offset..<end]))
                offset = end
            }
            let replies = client.replies(untilAck: 120)
            #expect(replies.lastAck == 120 && replies.inLineOrder, "\(replies)")
            outcomes.append(replies.errors.map { "\($0.line ?? 0) \($0.field ?? "-") \($0.error ?? "")" })
            let (status, stderr, _) = service.stop()
            #expect(status == 0, "\(stderr)")
            #expect(Set(try loggedInvocations(log)) == valid)
        }
        #expect(outcomes[0].count == 45, "\(outcomes[0])")
        #expect(outcomes[1] == outcomes[0] && outcomes[2] == outcomes[0])
    }
}
