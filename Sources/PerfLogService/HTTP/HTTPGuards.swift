import NIOCore
import NIOHTTP1

/// The first handler of an HTTP connection: admits at most
/// ``ServiceLimits/maxConnectionsPerPeer`` connections per peer (per local user on
/// loopback, see ``PeerIdentity``), so that one user holding many idle connections
/// cannot use up the service's connections for everyone else.
///
/// A connection past the limit is answered 503 at once and closed; it never reaches the
/// handlers behind this one.
final class PeerLimit: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let peers: PeerConnections
    private let identify: @Sendable (any Channel) -> PeerIdentity
    private var admitted: PeerIdentity?
    private var refused = false

    init(peers: PeerConnections,
         identify: @escaping @Sendable (any Channel) -> PeerIdentity = { PeerIdentity.of(local: $0.localAddress, remote: $0.remoteAddress) }) {
        self.peers = peers
        self.identify = identify
    }

    func channelActive(context: ChannelHandlerContext) {
        let peer = identify(context.channel)
        guard peers.admit(peer) else {
            refused = true
            let body = "{\"error\":\"too many connections from \(peer) (the limit is \(peers.limit) per user); close some and try again\"}\n"
            let text = "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: \(body.utf8.count)\r\nconnection: close\r\n\r\n" + body
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: text))).whenComplete { _ in
                channel.close(promise: nil)
            }
            return
        }
        admitted = peer
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !refused else { return }
        context.fireChannelRead(data)
    }

    func channelInactive(context: ChannelHandlerContext) {
        guard let admitted else { return }  // refused: nothing behind saw it open
        self.admitted = nil
        peers.release(admitted)
        context.fireChannelInactive()
    }
}

/// Closes an HTTP connection that keeps the service waiting: one whose request head
/// does not arrive within ``ServiceLimits/headerTimeout`` of connecting, whose next
/// request does not come within ``ServiceLimits/idleTimeout`` of the last answer, or
/// whose request body stalls (no bytes) for ``ServiceLimits/idleTimeout``.
///
/// It sits between the HTTP decoder (with its pipelining handler) and the session:
/// it sees request parts coming in and response parts going out. No clock runs while
/// the service itself is answering.
final class HTTPTimeouts: ChannelDuplexHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private enum State {
        /// Waiting for a request head: the first (header timeout) or a next (idle timeout).
        case waitingForHead
        /// Reading a request's body.
        case readingBody
        /// The service is answering.
        case answering
    }

    private let headerTimeout: TimeAmount?
    private let idleTimeout: TimeAmount?
    private var state = State.waitingForHead
    private var timer: Scheduled<Void>?
    /// When the timer's wait began or last saw progress (body bytes).
    private var lastProgress = NIODeadline.now()

    init(headerTimeout: Duration?, idleTimeout: Duration?) {
        self.headerTimeout = headerTimeout.map(HTTPTimeouts.amount)
        self.idleTimeout = idleTimeout.map(HTTPTimeouts.amount)
    }

    static func amount(_ d: Duration) -> TimeAmount {
        .nanoseconds(d.components.seconds * 1_000_000_000 + d.components.attoseconds / 1_000_000_000)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(context, headerTimeout) }
    }

    func channelActive(context: ChannelHandlerContext) {
        arm(context, headerTimeout)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) { disarm() }

    func channelInactive(context: ChannelHandlerContext) {
        disarm()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            state = .readingBody
            arm(context, idleTimeout)
        case .body:
            lastProgress = context.eventLoop.now
        case .end:
            state = .answering
            disarm()
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data), state == .answering {
            state = .waitingForHead
            arm(context, idleTimeout)
        }
        context.write(data, promise: promise)
    }

    private func disarm() {
        timer?.cancel()
        timer = nil
    }

    private func arm(_ context: ChannelHandlerContext, _ timeout: TimeAmount?) {
        disarm()
        guard let timeout else { return }
        lastProgress = context.eventLoop.now
        schedule(context, timeout, at: lastProgress + timeout)
    }

    private func schedule(_ context: ChannelHandlerContext, _ timeout: TimeAmount, at deadline: NIODeadline) {
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(deadline: deadline) {
            let (handler, context) = bound.value
            handler.fired(context, timeout)
        }
    }

    private func fired(_ context: ChannelHandlerContext, _ timeout: TimeAmount) {
        timer = nil
        // Body bytes came since: wait again from the last of them.
        if state == .readingBody, lastProgress + timeout > context.eventLoop.now {
            schedule(context, timeout, at: lastProgress + timeout)
            return
        }
        context.close(promise: nil)
    }
}

/// Refuses, from a request's head, what must not reach the aggregator and the session:
/// every request of a connection opened past ``ServiceLimits/maxConnections`` (503),
/// and a `POST /events` without the service's token (401) or to a service that has
/// none (403). The connection is then closed, the request's body unread.
///
/// It sits after ``HTTPTimeouts`` and before NIO's request aggregator, so that a
/// refused body is never collected.
final class HTTPAdmission: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private enum State {
        /// Passing requests on.
        case admitting
        /// Opened past the connection limit: its first request is refused.
        case overLimit
        /// A request was refused: the rest of it is dropped until the connection closes.
        case refused
    }

    private let core: ServiceCore
    private var state = State.admitting
    /// Whether this connection is counted in ``ServiceCore/openHTTPConnections``.
    private var counted = false

    init(core: ServiceCore) { self.core = core }

    func channelActive(context: ChannelHandlerContext) {
        counted = true
        if core.openHTTPConnections.add(1, ordering: .relaxed).newValue > core.limits.maxConnections {
            // Told at its first request, which HTTP expects an answer to.
            state = .overLimit
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if counted { core.openHTTPConnections.subtract(1, ordering: .relaxed) }
        counted = false
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch state {
        case .refused:
            return
        case .overLimit:
            guard case .head = unwrapInboundIn(data) else { return }
            state = .refused
            HTTPResponder.respond(context, .serviceUnavailable, json: LineReplies.tooManyConnections(limit: core.limits.maxConnections),
                                  close: true)
        case .admitting:
            guard case .head(let head) = unwrapInboundIn(data), let refusal = refusal(head) else {
                context.fireChannelRead(data)
                return
            }
            state = .refused
            HTTPResponder.respond(context, refusal.status, json: refusal.json, headers: refusal.headers, close: true)
        }
    }

    /// Why a request may not go on: a body declared larger than the limit, a
    /// `POST /events` without the token, or to a service that has none.
    private func refusal(_ head: HTTPRequestHead) -> (status: HTTPResponseStatus, json: String, headers: HTTPHeaders)? {
        // A body declared too large is answered here, with a reason; one that only
        // turns out too large (chunked) gets the aggregator's bare 413.
        if let length = head.headers.first(name: "content-length").flatMap(Int.init), length > core.limits.maxRequestBytes {
            return (.payloadTooLarge, "{\"error\":\"the request body is larger than \(core.limits.maxRequestBytes) bytes\"}\n", HTTPHeaders())
        }
        guard head.method == .POST, head.uri.split(separator: "?", maxSplits: 1).first == "/events" else { return nil }
        guard let token = core.httpToken else {
            return (.forbidden,
                    "{\"error\":\"this service takes events over HTTP only with a token: start perflog serve with --http-token-file FILE and send Authorization: Bearer <token>, or use its Unix socket\"}\n",
                    HTTPHeaders())
        }
        guard !token.admits(authorization: head.headers.first(name: "authorization")) else { return nil }
        var headers = HTTPHeaders()
        headers.add(name: "www-authenticate", value: "Bearer realm=\"perflog\"")
        let what = head.headers.contains(name: "authorization") ? "the token is wrong" : "a token is needed"
        return (.unauthorized, "{\"error\":\"\(what): send Authorization: Bearer <token>, the token in the service's --http-token-file\"}\n", headers)
    }
}
