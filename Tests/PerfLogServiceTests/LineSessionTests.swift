import NIOCore
import NIOEmbedded
import PerfLog
@testable import PerfLogService
import Testing

@Suite("A socket connection's session")
struct LineSessionTests {
    /// The decoder and the session on an open channel, recording into a sink that settles at once.
    func channel(_ fixture: CoreFixture) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        let ops = channel.pipeline.syncOperations
        try ops.addHandler(ByteToMessageHandler(LineFrameDecoder(maxLineBytes: fixture.core.limits.maxLineBytes)))
        try ops.addHandler(LineSession(core: fixture.core, seed: 1))
        try channel.connect(to: SocketAddress(unixDomainSocketPath: "/s")).wait()
        return channel
    }

    func replies(_ channel: EmbeddedChannel) throws -> [String] {
        channel.embeddedEventLoop.run()
        var text = ""
        while let b = try channel.readOutbound(as: ByteBuffer.self) { text += String(buffer: b) }
        return text.split(separator: "\n").map(String.init)
    }

    static func measure(_ invocation: Int) -> String {
        #"{"kind":"measure","agent":"a","cli":"c","invocation":"\#(String(invocation, radix: 16))","durationMs":5,"outcome":"ok"}"# + "\n"
    }

    @Test("a read's lines are recorded together and answered with their errors, in line order, then the ack")
    func answers() throws {
        var limits = ServiceLimits()
        limits.maxLineBytes = 1024
        let fixture = try CoreFixture(limits: limits)
        let channel = try channel(fixture)
        let long = String(repeating: " ", count: 2000)
        try channel.writeInbound(ByteBuffer(string: Self.measure(1) + "not json\r\n\n" + long + "\n" + Self.measure(2)))
        let got = try replies(channel)
        #expect(got.count == 3, "\(got)")
        #expect(got.first?.hasPrefix(#"{"line":2,"error":"invalid JSON"#) == true, "\(got)")
        #expect(got.dropFirst().first == #"{"line":4,"error":"is longer than 1024 bytes"}"#, "\(got)")
        #expect(got.last == #"{"ack":5}"#, "\(got)")
        #expect(fixture.sink.batches.map { $0.map(\.invocation.rawValue) } == [[1, 2]])
        let counters = fixture.core.counters.snapshot
        #expect(counters.lines == 4 && counters.committed == 2 && counters.rejected == 2, "\(counters)")

        // Blank lines alone are acknowledged too.
        try channel.writeInbound(ByteBuffer(string: "\n \n"))
        #expect(try replies(channel) == [#"{"ack":7}"#])
        #expect(channel.isActive)
    }

    @Test("the input closing mid-line: the complete lines are answered, the cut one refused, then the connection is closed")
    func inputClosedMidLine() throws {
        let fixture = try CoreFixture()
        let channel = try channel(fixture)
        try channel.writeInbound(ByteBuffer(string: Self.measure(1) + String(Self.measure(2).dropLast())))
        #expect(try replies(channel) == [#"{"ack":1}"#])
        channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        let got = try replies(channel)
        #expect(got.count == 2 && got.first?.hasPrefix(#"{"line":2,"error":"ends without a line feed"#) == true, "\(got)")
        #expect(got.last == #"{"ack":2}"#)
        #expect(!channel.isActive)
        #expect(fixture.sink.batches.map(\.count) == [1, 0])
    }

    @Test("a connection past the limit is told so and closed")
    func tooManyConnections() throws {
        var limits = ServiceLimits()
        limits.maxConnections = 0
        let fixture = try CoreFixture(limits: limits)
        let channel = try channel(fixture)
        #expect(try replies(channel) == [#"{"error":"too many connections (the limit is 0); try again later"}"#])
        #expect(!channel.isActive)
    }
}
