import Foundation
import PerfLogTestSupport
import Testing

/// Services that clients start on demand: they stop by themselves when idle, and of
/// several started at once on one socket exactly one serves.
@Suite("perflog serve: started on demand", .timeLimit(.minutes(2)))
struct ServeIdleExitTests {
    @Test("--idle-exit: with no client the service stops by itself, exits 0 and removes its socket")
    func idleServiceStops() throws {
        let dir = try scratch()
        let log = dir.file("log"), socket = dir.file("s.sock")
        let service = try RunningCLI(["serve", "--idle-exit", "300ms", "--json", "--log", log, "--socket", socket])
        let (status, stderr) = service.wait()
        #expect(status == 0, "\(stderr)")
        #expect(stderr.contains("perflog serve: no client for 300.0 ms; stopping\n"), "\(stderr)")
        #expect(!FileManager.default.fileExists(atPath: socket))
        service.output.waitForEnd()
        #expect(service.output.text.contains("\"stopped\":true,\"idle\":true"), "\(service.output.text)")
    }

    @Test("--idle-exit: a connected client keeps the service up past the limit; once it leaves, the service stops")
    func connectedClientKeepsServiceUp() throws {
        let dir = try scratch()
        let log = dir.file("log"), socket = dir.file("s.sock")
        let service = try RunningCLI(["serve", "--idle-exit", "200ms", "--json", "--log", log, "--socket", socket])
        var connected: Client?
        eventually("the service listens on \(socket)") {
            connected = try? Client.unix(socket)
            return connected != nil
        }
        let client = try #require(connected)
        // The time under test passes with the connection open and silent: five limits.
        Thread.sleep(forTimeInterval: 1)
        #expect(service.process.isRunning, "the service stopped while a client was connected")
        try client.write(measure("a", "c", invocation: 1))
        #expect(client.replies(untilAck: 1).lastAck == 1)
        shutdown(client.fd, Int32(SHUT_RDWR))
        let (status, stderr) = service.wait()
        #expect(status == 0, "\(stderr)")
        #expect(try loggedInvocations(log) == [1])
    }

    @Test("four services started at once on one socket: one serves every client, the others exit 75")
    func racingServicesEndAsOne() throws {
        let dir = try scratch()
        let log = dir.file("log"), socket = dir.file("s.sock")
        let services = try (0..<4).map { _ in
            try RunningCLI(["serve", "--idle-exit", "1s", "--log", log, "--socket", socket])
        }
        // The losers end at once; the winner serves until it is idle.
        var statuses: [Int32] = []
        var winner: RunningCLI?
        for s in services {
            let (status, stderr) = s.wait()
            statuses.append(status)
            if status == 75 { #expect(stderr.contains("another perflog serve is listening on it"), "\(stderr)") }
            if status == 0 { winner = s }
        }
        #expect(statuses.sorted() == [0, 75, 75, 75], "\(statuses)")
        #expect(winner != nil)
        #expect(!FileManager.default.fileExists(atPath: socket), "the winner's socket was left behind")
    }

    @Test("a time with a numeric offset (Python's isoformat()) is accepted and stored as UTC")
    func numericOffsetsAreAccepted() throws {
        let dir = try scratch()
        let log = dir.file("log"), socket = dir.file("s.sock")
        let service = try Service(log: log, socket: socket)
        let client = try Client.unix(socket)
        try client.write("{\"kind\":\"measure\",\"agent\":\"a\",\"cli\":\"c\",\"durationMs\":5,\"outcome\":\"ok\",\"time\":\"2026-12-02T19:55:00.250000+01:00\"}\n"
                         + "{\"kind\":\"measure\",\"agent\":\"a\",\"cli\":\"c\",\"durationMs\":6,\"outcome\":\"ok\",\"time\":\"2026-12-02T18:55:01-00:30\"}\n")
        let replies = client.replies(untilAck: 2)
        #expect(replies.lastAck == 2 && replies.errors.isEmpty, "\(replies)")
        _ = service.stop()
        let events = try CLI.run(["export", "--format", "ndjson", "--log", log]).stdout
        #expect(events.contains("\"time\":\"2026-12-02T18:55:00.250000Z\""), "\(events)")
        #expect(events.contains("\"time\":\"2026-12-02T19:25:01.000000Z\""), "\(events)")
    }
}
