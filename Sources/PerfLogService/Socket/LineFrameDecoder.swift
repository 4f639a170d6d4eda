import NIOCore
import PerfLog

/// What the socket's line decoder hands to its session.
enum LineFrame: Equatable, Sendable {
    /// One or more complete lines, each with its line feed: all that one read brought
    /// in a row, so that the session takes a read's lines in one call (a frame per line
    /// cost the service a tenth of its throughput). A carriage return before a line
    /// feed is kept: the parser takes it as white space, and it counts toward the limit.
    case lines(ByteBuffer)
    /// A line longer than the limit, reported as soon as it passes it (the whole line
    /// need not have come): the decoder skips its bytes up to its line feed.
    case tooLong
    /// The first bytes of a line have come, and not its line feed (once a line): the
    /// session times how long it stays incomplete.
    case begun
    /// The input ended inside a line: the bytes it had (never a line of its own).
    case cutOff(ByteBuffer)
}

/// Cuts the bytes of a socket connection into lines at each line feed (`\n`), with a
/// bound on a line's length, so that a client cannot make the service hold an
/// unbounded line.
///
/// A line counts only once its line feed arrives; what the input ends with after the
/// last one is handed on as ``LineFrame/cutOff(_:)``, to be refused, not recorded.
struct LineFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = LineFrame

    private enum State {
        /// No byte of the next line is held.
        case lineStart
        /// Bytes of a line are held (and announced as ``LineFrame/begun``); the first
        /// `scanned` of them hold no line feed.
        case partial(scanned: Int)
        /// Inside a line already reported too long: its bytes are dropped up to its line feed.
        case skipping
    }

    /// The longest line handed on, in bytes, line feed excluded.
    let maxLineBytes: Int
    private var state = State.lineStart

    init(maxLineBytes: Int) {
        self.maxLineBytes = maxLineBytes
    }

    /// What the buffer's next bytes make, if they make anything yet.
    private enum Step {
        case frame(LineFrame)
        /// Bytes of a line were dropped or are held; go on.
        case again
        case needMoreData
    }

    private mutating func step(_ buffer: inout ByteBuffer) -> Step {
        switch state {
        case .skipping:
            guard let feed = buffer.withUnsafeReadableBytes({ LineFeed.first(in: $0) }) else {
                buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
                return .needMoreData
            }
            buffer.moveReaderIndex(forwardBy: feed + 1)
            state = .lineStart
            return .again
        case .lineStart, .partial:
            var scanned = 0
            if case .partial(let s) = state { scanned = s }
            let limit = maxLineBytes
            // How far the run of complete lines within the limit reaches (just past its
            // last line feed), and the length of the first line when it is over the limit.
            let (runEnd, firstLength) = buffer.withUnsafeReadableBytes { bytes -> (Int, Int?) in
                guard let first = LineFeed.first(in: bytes, from: scanned) else { return (0, nil) }
                guard first <= limit else { return (0, first) }
                var end = first + 1
                while let next = LineFeed.first(in: bytes, from: end), next - end <= limit { end = next + 1 }
                return (end, first)
            }
            if let firstLength {
                state = .lineStart
                guard runEnd > 0 else {
                    buffer.moveReaderIndex(forwardBy: firstLength + 1)
                    return .frame(.tooLong)
                }
                // readSlice cannot fail: `runEnd` bytes are readable.
                return .frame(.lines(buffer.readSlice(length: runEnd) ?? ByteBuffer()))
            }
            let held = buffer.readableBytes
            if held > maxLineBytes {
                buffer.moveReaderIndex(forwardBy: held)
                state = .skipping
                return .frame(.tooLong)
            }
            guard held > 0 else { return .needMoreData }
            let announce: Bool
            if case .lineStart = state { announce = true } else { announce = false }
            state = .partial(scanned: held)
            return announce ? .frame(.begun) : .needMoreData
        }
    }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        switch step(&buffer) {
        case .frame(let frame):
            context.fireChannelRead(wrapInboundOut(frame))
            // After `begun` the rest of the line has yet to come.
            return frame == .begun ? .needMoreData : .continue
        case .again: return .continue
        case .needMoreData: return .needMoreData
        }
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while true {
            switch step(&buffer) {
            case .frame(.begun), .needMoreData:
                if seenEOF, case .partial = state, buffer.readableBytes > 0 {
                    let rest = buffer.readSlice(length: buffer.readableBytes) ?? ByteBuffer()
                    context.fireChannelRead(wrapInboundOut(.cutOff(rest)))
                }
                buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
                state = .lineStart
                return .needMoreData
            case .frame(let frame):
                context.fireChannelRead(wrapInboundOut(frame))
            case .again:
                continue
            }
        }
    }
}
