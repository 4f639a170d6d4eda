import Foundation
import PerfLogTestSupport
import Testing

/// A client that did not see its acknowledgement resends after a reconnect: the
/// service acknowledges what its rings hold already and does not store it twice.
@Suite("perflog serve: retries are stored once", .timeLimit(.minutes(2)))
struct ServeRetryTests {
    @Test("a measure sent again, on another connection or in the same batch, is acknowledged and stored once")
    func resentMeasuresAreStoredOnce() throws {
        let dir = try scratch()
        let log = dir.file("log"), socket = dir.file("s.sock")
        let service = try Service(log: log, socket: socket, options: ["--http", "127.0.0.1:0"])
        let lines = (1...20).map { measure("planner", "claude", invocation: UInt64($0), ms: $0) }

        let first = try Client.unix(socket)
        try first.write(lines.joined())
        #expect(first.replies(untilAck: 20).lastAck == 20)

        // The same lines again after a reconnect, and a line twice in one write.
        let second = try Client.unix(socket)
        try second.write(lines[10...].joined() + lines[0] + measure("planner", "claude", invocation: 99, ms: 7) + lines[0])
        let replies = second.replies(untilAck: 13)
        #expect(replies.lastAck == 13 && replies.errors.isEmpty, "\(replies)")

        let port = try #require(service.httpPort)
        let metrics = try http(port: port, "GET", "/metrics").body
        #expect(metrics.contains("perflog_serve_duplicates_total 12\n"), "\(metrics)")
        #expect(metrics.contains("perflog_invocations_total{agent=\"planner\",cli=\"claude\",outcome=\"ok\"} 21\n"), "\(metrics)")
        _ = service.stop()
        #expect(try loggedInvocations(log) == Array(1...20) + [99])
    }

    @Test("an ending sent again after its measure was stored is acknowledged, not refused and not stored twice")
    func resentEndingIsAcknowledged() throws {
        let dir = try scratch()
        let log = dir.file("log"), socket = dir.file("s.sock")
        let service = try Service(log: log, socket: socket)
        let mark = "{\"kind\":\"mark\",\"agent\":\"a\",\"cli\":\"c\",\"invocation\":\"00000000000000aa\"}\n"
        let ending = "{\"kind\":\"measure\",\"agent\":\"a\",\"cli\":\"c\",\"invocation\":\"00000000000000aa\",\"outcome\":\"ok\"}\n"
        let client = try Client.unix(socket)
        try client.write(mark)
        #expect(client.replies(untilAck: 1).lastAck == 1)
        try client.write(ending)
        #expect(client.replies(untilAck: 2).lastAck == 2)
        let again = try Client.unix(socket)
        try again.write(ending)
        let replies = again.replies(untilAck: 1)
        #expect(replies.lastAck == 1 && replies.errors.isEmpty, "\(replies)")
        _ = service.stop()
        #expect(try loggedInvocations(log) == [0xaa])
    }

    @Test("a mark and its measure sent again after both were stored leave no mark open")
    func resentMarkAndMeasure() throws {
        let dir = try scratch()
        let log = dir.file("log"), socket = dir.file("s.sock")
        let service = try Service(log: log, socket: socket)
        let pair = "{\"kind\":\"mark\",\"agent\":\"a\",\"cli\":\"c\",\"invocation\":\"00000000000000bb\"}\n"
            + "{\"kind\":\"measure\",\"agent\":\"a\",\"cli\":\"c\",\"invocation\":\"00000000000000bb\",\"durationMs\":5,\"outcome\":\"ok\"}\n"
        let client = try Client.unix(socket)
        try client.write(pair)
        #expect(client.replies(untilAck: 2).lastAck == 2)
        // A client that missed the ack resends both lines, in their order.
        let again = try Client.unix(socket)
        try again.write(pair)
        let replies = again.replies(untilAck: 2)
        #expect(replies.lastAck == 2 && replies.errors.isEmpty, "\(replies)")
        _ = service.stop()
        // Only the measure: a mark stored again would be listed as an open invocation.
        #expect(try loggedInvocations(log) == [0xbb])
    }
}
