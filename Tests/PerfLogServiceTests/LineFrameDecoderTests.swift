import NIOCore
import NIOEmbedded
@testable import PerfLogService
import Testing

@Suite("Cutting the socket's bytes into lines")
struct LineFrameDecoderTests {
    /// A channel with only the decoder: what it hands on is read as inbound frames.
    func channel(maxLineBytes: Int = 16) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineFrameDecoder(maxLineBytes: maxLineBytes)))
        return channel
    }

    func write(_ channel: EmbeddedChannel, _ text: String) throws {
        try channel.writeInbound(channel.allocator.buffer(string: text))
    }

    func frames(_ channel: EmbeddedChannel) throws -> [LineFrame] {
        var out: [LineFrame] = []
        while let f = try channel.readInbound(as: LineFrame.self) { out.append(f) }
        return out
    }

    /// The frame of complete lines `texts`, each with its line feed.
    func lines(_ texts: String...) -> LineFrame { .lines(ByteBuffer(string: texts.map { $0 + "\n" }.joined())) }

    @Test("lines split across writes come out whole once their line feed arrives, the complete lines of a write in one frame")
    func splitLines() throws {
        let c = try channel()
        try write(c, "ab")
        #expect(try frames(c) == [.begun])
        try write(c, "c\nde")
        #expect(try frames(c) == [lines("abc"), .begun])
        try write(c, "f")
        #expect(try frames(c) == [], "a line already begun is announced once")
        try write(c, "\n\nxyz\n")
        #expect(try frames(c) == [lines("def", "", "xyz")])
        #expect(try c.finish().isClean)
    }

    @Test("a carriage return before the line feed is kept, and counts toward the limit")
    func crlf() throws {
        let c = try channel(maxLineBytes: 4)
        try write(c, "abc\r\nabcd\r\n\r\n")
        #expect(try frames(c) == [lines("abc\r"), .tooLong, lines("\r")])
        try write(c, "ab\r")
        try write(c, "\n")
        #expect(try frames(c) == [.begun, lines("ab\r")])
    }

    @Test("a line over the limit is reported once, as soon as it passes it, and skipped to its line feed")
    func overLongLine() throws {
        let c = try channel(maxLineBytes: 8)
        // Whole in one write, then the next line is taken.
        try write(c, "123456789\nok\n")
        #expect(try frames(c) == [.tooLong, lines("ok")])
        // One in the middle of a write ends the run of lines before it.
        try write(c, "a\n12345678\n123456789\nb\n")
        #expect(try frames(c) == [lines("a", "12345678"), .tooLong, lines("b")])
        // Exactly the limit is a line.
        try write(c, "12345678\n")
        #expect(try frames(c) == [lines("12345678")])
        // Over many writes: reported when the ninth byte comes, before its line feed.
        try write(c, "1234")
        #expect(try frames(c) == [.begun])
        try write(c, "56789")
        #expect(try frames(c) == [.tooLong])
        try write(c, String(repeating: "x", count: 1000))
        #expect(try frames(c) == [])
        try write(c, "xx\nnext\n")
        #expect(try frames(c) == [lines("next")])
    }

    @Test("the input ending inside a line hands on its bytes as cut off; nothing after a line feed, or inside a skipped line, is")
    func endOfInput() throws {
        let cut = try channel()
        try write(cut, "one\ntw")
        #expect(try frames(cut) == [lines("one"), .begun])
        cut.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(try frames(cut) == [.cutOff(ByteBuffer(string: "tw"))])

        let whole = try channel()
        try write(whole, "one\n")
        whole.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(try frames(whole) == [lines("one")])

        let skipped = try channel(maxLineBytes: 2)
        try write(skipped, "toolong")
        skipped.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(try frames(skipped) == [.tooLong])

        // A connection that closes (not only its input) ends its last line the same way.
        let closed = try channel()
        try write(closed, "x")
        _ = try closed.finish()
        #expect(try frames(closed) == [.begun, .cutOff(ByteBuffer(string: "x"))])
    }
}
