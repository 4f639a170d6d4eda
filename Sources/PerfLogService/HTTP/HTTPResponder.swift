import NIOCore
import NIOHTTP1

/// Writes one whole HTTP response: the service's handlers answer with nothing else.
enum HTTPResponder {
    /// Writes `bytes` as the body of a `status` response (JSON unless `headers` say
    /// otherwise), with its length; with `close`, says so and closes the connection once
    /// the response is written. With `head`, the body is left out (a `HEAD` request),
    /// its length still given.
    static func respond(
        _ context: ChannelHandlerContext, _ status: HTTPResponseStatus, bytes: [UInt8], headers extra: HTTPHeaders = HTTPHeaders(),
        close: Bool, head: Bool = false
    ) {
        respond(context, status, body: [context.channel.allocator.buffer(bytes: bytes)], headers: extra, close: close, head: head)
    }

    /// ``respond(_:_:bytes:headers:close:head:)`` with the body in buffers already, sent
    /// one after the other.
    static func respond(
        _ context: ChannelHandlerContext, _ status: HTTPResponseStatus, body: [ByteBuffer], headers extra: HTTPHeaders = HTTPHeaders(),
        close: Bool, head: Bool = false
    ) {
        guard context.channel.isActive else { return }
        var headers = extra
        if !headers.contains(name: "content-type") { headers.add(name: "content-type", value: "application/json") }
        headers.add(name: "content-length", value: String(body.reduce(0) { $0 + $1.readableBytes }))
        if close { headers.add(name: "connection", value: "close") }
        func part(_ p: HTTPServerResponsePart) -> NIOAny { NIOAny(p) }
        context.write(part(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        if !head { for b in body where b.readableBytes > 0 { context.write(part(.body(.byteBuffer(b))), promise: nil) } }
        let done = context.writeAndFlush(part(.end(nil)))
        if close {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }

    /// ``respond(_:_:bytes:headers:close:head:)`` with a JSON text.
    static func respond(_ context: ChannelHandlerContext, _ status: HTTPResponseStatus, json: String,
                        headers: HTTPHeaders = HTTPHeaders(), close: Bool) {
        respond(context, status, bytes: Array(json.utf8), headers: headers, close: close)
    }
}
