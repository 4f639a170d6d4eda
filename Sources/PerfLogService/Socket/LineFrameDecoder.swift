import NIOCore

/// What the socket's line decoder hands to its session.
enum LineFrame: Equatable, Sendable {
    /// A complete line, without its line feed. A carriage return before the line feed
    /// is kept: the parser takes it as white space, and it counts toward the limit.
    case line(ByteBuffer)
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

    private static let lineFeed = UInt8(ascii: "\n")

    /// What the buffer's next bytes make, if they make anything yet.
    private enum Step {
        case frame(LineFrame)
        /// Bytes of a line were dropped or are held; go on.
        case again
        case needMoreData
    }

    private mutating func step(_ buffer: inout ByteBuffer) -> Step {
        let view = buffer.readableBytesView
        switch state {
        case .skipping:
            guard let feed = view.firstIndex(of: Self.lineFeed) else {
                buffer.moveReaderIndex(forwardBy: view.count)
                return .needMoreData
            }
            buffer.moveReaderIndex(forwardBy: view.distance(from: view.startIndex, to: feed) + 1)
            state = .lineStart
            return .again
        case .lineStart, .partial:
            var scanned = 0
            if case .partial(let s) = state { scanned = s }
            let from = view.index(view.startIndex, offsetBy: scanned)
            if let feed = view[from...].firstIndex(of: Self.lineFeed) {
                let length = view.distance(from: view.startIndex, to: feed)
                state = .lineStart
                guard length <= maxLineBytes else {
                    buffer.moveReaderIndex(forwardBy: length + 1)
                    return .frame(.tooLong)
                }
                // readSlice cannot fail: `length` bytes are readable.
                let line = buffer.readSlice(length: length) ?? ByteBuffer()
                buffer.moveReaderIndex(forwardBy: 1)
                return .frame(.line(line))
            }
            if view.count > maxLineBytes {
                buffer.moveReaderIndex(forwardBy: view.count)
                state = .skipping
                return .frame(.tooLong)
            }
            guard !view.isEmpty else { return .needMoreData }
            let announce: Bool
            if case .lineStart = state { announce = true } else { announce = false }
            state = .partial(scanned: view.count)
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
