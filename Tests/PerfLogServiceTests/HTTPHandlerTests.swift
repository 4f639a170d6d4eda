import NIOCore
import NIOEmbedded
import NIOHTTP1
import NIOPosix
import PerfLog
@testable import PerfLogService
import PerfLogTestSupport
import Synchronization
import Testing

/// Takes the events it is given and settles them at once, as committed.
final class SettlingSink: EventSink {
    var duplicates: UInt64 { 0 }
    private let recorded = Mutex<[[Event]]>([])
    var batches: [[Event]] { recorded.withLock { $0 } }

    func record(contentsOf events: [Event], whenSettled: @escaping @Sendable (Result<Void, PerfLogError>) -> Void) {
        recorded.withLock { $0.append(events) }
        whenSettled(.success(()))
    }
}

/// A service's core on a fresh log, with a sink that settles at once.
final class CoreFixture {
    let dir: TemporaryDirectory
    let sink = SettlingSink()
    let core: ServiceCore
    private let pools: [NIOThreadPool]

    init(token: String? = "a-token-of-32-bytes-0123456789ab", limits: ServiceLimits = ServiceLimits()) throws {
        dir = try TemporaryDirectory()
        let log = try EventLog(path: dir.path + "/log")
        pools = [NIOThreadPool(numberOfThreads: 1), NIOThreadPool(numberOfThreads: 1)]
        core = ServiceCore(log: log, sink: sink, limits: limits, pool: pools[0], lookups: pools[1],
                           httpToken: token.map { HTTPToken(bytes: Array($0.utf8)) })
    }
}

@Suite("The HTTP handlers")
struct HTTPHandlerTests {
    static let token = "a-token-of-32-bytes-0123456789ab"

    /// Admission, NIO's aggregator and the session, on an open channel: requests go in as
    /// parts, responses come out as parts.
    func channel(_ fixture: CoreFixture) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        let ops = channel.pipeline.syncOperations
        try ops.addHandler(HTTPAdmission(core: fixture.core))
        try ops.addHandler(NIOHTTPServerRequestAggregator(maxContentLength: fixture.core.limits.maxRequestBytes))
        try ops.addHandler(HTTPSession(core: fixture.core))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9)).wait()
        return channel
    }

    struct Response {
        var status: HTTPResponseStatus
        var headers: HTTPHeaders
        var body: String
    }

    func post(_ channel: EmbeddedChannel, _ body: String, authorization: String? = "Bearer \(HTTPHandlerTests.token)",
              declaredLength: Bool = true) throws {
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/events")
        if let authorization { head.headers.add(name: "authorization", value: authorization) }
        if declaredLength { head.headers.add(name: "content-length", value: String(body.utf8.count)) }
        try channel.writeInbound(HTTPServerRequestPart.head(head))
        if !body.isEmpty { try channel.writeInbound(HTTPServerRequestPart.body(ByteBuffer(string: body))) }
        try channel.writeInbound(HTTPServerRequestPart.end(nil))
        channel.embeddedEventLoop.run()
    }

    func response(_ channel: EmbeddedChannel) throws -> Response? {
        guard case .head(let head)? = try channel.readOutbound(as: HTTPServerResponsePart.self) else { return nil }
        var body = ""
        while let part = try channel.readOutbound(as: HTTPServerResponsePart.self) {
            switch part {
            case .body(.byteBuffer(let b)): body += String(buffer: b)
            case .body: break
            case .end: return Response(status: head.status, headers: head.headers, body: body)
            case .head: Issue.record("a second head before the end")
            }
        }
        return Response(status: head.status, headers: head.headers, body: body)
    }

    static let measure = #"{"kind":"measure","agent":"web","cli":"curl","durationMs":12,"outcome":"ok"}"# + "\n"

    @Test("POST /events without the token, or with a wrong one, is refused at its head (401) and the connection closed")
    func tokenRefused() throws {
        for authorization in [nil, "Bearer wrong-token-of-many-bytes-xx", "Basic \(Self.token)"] as [String?] {
            let fixture = try CoreFixture()
            let channel = try channel(fixture)
            try post(channel, Self.measure, authorization: authorization)
            let answer = try #require(try response(channel))
            #expect(answer.status == .unauthorized)
            #expect(answer.headers["www-authenticate"] == ["Bearer realm=\"perflog\""])
            #expect(answer.body.contains(authorization == nil ? "a token is needed" : "the token is wrong"), "\(answer.body)")
            #expect(!channel.isActive, "the connection stays open")
            #expect(fixture.sink.batches.isEmpty)
        }
    }

    @Test("a service without a token answers POST /events 403")
    func noToken() throws {
        let fixture = try CoreFixture(token: nil)
        let channel = try channel(fixture)
        try post(channel, Self.measure)
        #expect(try response(channel)?.status == .forbidden)
        #expect(fixture.sink.batches.isEmpty)
    }

    @Test("POST /events with the token: its events are recorded, and the answer is 200 with the counts; the connection stays open")
    func tokenAccepted() throws {
        let fixture = try CoreFixture()
        let channel = try channel(fixture)
        try post(channel, Self.measure + "\n" + Self.measure)
        let answer = try #require(try response(channel))
        #expect(answer.status == .ok, "\(answer.body)")
        #expect(answer.body == "{\"received\":2,\"committed\":2,\"rejected\":0,\"errors\":[]}\n")
        #expect(fixture.sink.batches.map(\.count) == [2])
        #expect(channel.isActive)
        #expect(fixture.core.counters.snapshot.committed == 2)
    }

    @Test("a body larger than the limit is answered 413 and the connection closed, whether its length was declared or not")
    func bodyTooLarge() throws {
        var limits = ServiceLimits()
        limits.maxRequestBytes = 64
        for declared in [true, false] {
            let fixture = try CoreFixture(limits: limits)
            let channel = try channel(fixture)
            try post(channel, String(repeating: Self.measure, count: 2), declaredLength: declared)
            let answer = try response(channel)
            #expect(answer?.status == .payloadTooLarge)
            // A declared length is refused at the head, saying why.
            if declared { #expect(answer?.body.contains("larger than 64 bytes") == true, "\(String(describing: answer?.body))") }
            #expect(!channel.isActive)
            #expect(fixture.sink.batches.isEmpty, "a refused body was recorded")
        }
    }

    @Test("a line that is not JSON gets 422 naming it, with no field; the valid lines beside it are recorded")
    func badJSON() throws {
        let fixture = try CoreFixture()
        let channel = try channel(fixture)
        try post(channel, Self.measure + "this is not JSON\n" + #"{"kind":"measure","agent":"web","cli":"curl","durationMs":-1,"outcome":"ok"}"# + "\n")
        let answer = try #require(try response(channel))
        #expect(answer.status == .unprocessableEntity)
        #expect(answer.body.hasPrefix("{\"received\":3,\"committed\":1,\"rejected\":2,\"errors\":[{\"line\":2,\"error\":"), "\(answer.body)")
        #expect(answer.body.contains("{\"line\":3,\"field\":\"durationMs\",\"error\":\"must not be negative\"}"), "\(answer.body)")
        #expect(fixture.sink.batches.map(\.count) == [1])
    }
}
