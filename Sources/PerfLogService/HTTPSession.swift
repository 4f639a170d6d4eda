import NIOCore
import NIOHTTP1
import PerfLog
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One HTTP connection: `POST /events`, `GET /streams`, `GET /metrics`, `GET /healthz`, `GET /`.
///
/// `POST /events` needs the service's token (`Authorization: Bearer <token>`): without
/// one it is answered 401; a service without a token answers it 403. The reading routes
/// are open to whoever can connect.
///
/// Requests are answered one at a time, in order (NIO's pipeline handler holds back
/// pipelined ones). A body is read up to ``ServiceLimits/maxRequestBytes``; beyond it
/// the answer is 413 and the connection is closed.
final class HTTPSession: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let core: ServiceCore
    private var context: ChannelHandlerContext?
    private var head: HTTPRequestHead?
    private var body: ByteBuffer?
    /// A request was refused before its end arrived: ignore the rest and close.
    private var refused = false
    private var busy = false
    private var draining = false
    /// Opened past ``ServiceLimits/maxConnections``: the first request is refused.
    private var tooMany = false

    init(core: ServiceCore) { self.core = core }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func channelActive(context: ChannelHandlerContext) {
        if core.openHTTPConnections.add(1, ordering: .relaxed).newValue > core.limits.maxConnections {
            // Told at its first request, which HTTP expects an answer to.
            tooMany = true
            context.fireChannelActive()
            return
        }
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        core.register(context.channel) { bound.value.drain() }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        core.openHTTPConnections.subtract(1, ordering: .relaxed)
        core.unregister(context.channel)
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            if tooMany {
                refused = true
                respond(.serviceUnavailable,
                        json: "{\"error\":\"too many connections (the limit is \(core.limits.maxConnections)); try again later\"}\n",
                        close: true)
                return
            }
            head = h
            body = nil
            refused = false
            if let refusal = authorizationRefusal(h) {
                refused = true
                respond(refusal.status, json: refusal.json, headers: refusal.headers, close: true)
                return
            }
            if let length = h.headers.first(name: "content-length").flatMap(Int.init), length > core.limits.maxRequestBytes {
                refuseTooLarge()
            }
        case .body(var chunk):
            guard !refused else { return }
            if (body?.readableBytes ?? 0) + chunk.readableBytes > core.limits.maxRequestBytes {
                refuseTooLarge()
                return
            }
            if var held = body {
                body = nil  // one reference, so the append does not copy
                held.writeBuffer(&chunk)
                body = held
            } else {
                body = chunk
            }
        case .end:
            guard !refused, let head else { return }
            self.head = nil
            busy = true
            route(head, body: body ?? ByteBuffer())
            body = nil
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func drain() {
        draining = true
        if !busy { context?.close(promise: nil) }
    }

    private func refuseTooLarge() {
        refused = true
        body = nil
        respond(.payloadTooLarge, json: "{\"error\":\"the request body is larger than \(core.limits.maxRequestBytes) bytes\"}\n",
                close: true)
    }

    /// Why a request may not go on before its body is read: a `POST /events` without
    /// the token, or to a service that has none. The connection is then closed, its
    /// body unread.
    private func authorizationRefusal(_ head: HTTPRequestHead) -> (status: HTTPResponseStatus, json: String, headers: HTTPHeaders)? {
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

    // MARK: Routes

    private func route(_ head: HTTPRequestHead, body: ByteBuffer) {
        core.counters.httpRequests.add(1, ordering: .relaxed)
        let parts = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let path = parts.first.map(String.init) ?? "/"
        let query = parts.count > 1 ? String(parts[1]) : ""
        let keepAlive = head.isKeepAlive
        func only(_ methods: [HTTPMethod], _ handle: () -> Void) {
            if methods.contains(head.method) { handle(); return }
            var headers = HTTPHeaders()
            headers.add(name: "allow", value: methods.map(\.rawValue).joined(separator: ", "))
            respond(.methodNotAllowed, json: "{\"error\":\"\(path) takes \(methods.map(\.rawValue).joined(separator: " or "))\"}\n",
                    headers: headers, close: !keepAlive)
        }
        switch path {
        case "/events": only([.POST]) { postEvents(body, keepAlive: keepAlive) }
        case "/streams": only([.GET, .HEAD]) { getStreams(query: query, keepAlive: keepAlive, head: head.method == .HEAD) }
        case "/metrics":
            only([.GET, .HEAD]) {
                getMetrics(classic: ServiceMetrics.wantsClassicText(accept: head.headers["accept"]), keepAlive: keepAlive,
                           head: head.method == .HEAD)
            }
        case "/healthz": only([.GET, .HEAD]) { getHealth(keepAlive: keepAlive, head: head.method == .HEAD) }
        case "/":
            only([.GET, .HEAD]) {
                let post = core.httpToken == nil ? "POST /events    disabled (the service has no --http-token-file)"
                                                 : "POST /events    NDJSON events (Authorization: Bearer <token>)"
                let text = "perflog serve\n\nGET /streams    the streams' figures (JSON)\nGET /metrics    OpenMetrics\nGET /healthz    status (JSON)\n\(post)\n"
                var headers = HTTPHeaders()
                headers.add(name: "content-type", value: "text/plain; charset=utf-8")
                respond(.ok, bytes: Array(text.utf8), headers: headers, close: !keepAlive, head: head.method == .HEAD)
            }
        default:
            respond(.notFound, json: "{\"error\":\"no such path: \(JSONText.quoted(path).dropFirst().dropLast()); try /events, /streams, /metrics or /healthz\"}\n",
                    close: !keepAlive)
        }
    }

    /// Records the body's lines; answers once they are committed: 200 when every line
    /// was, 422 when some broke a rule (the others are committed), 503 when the commit
    /// failed.
    private func postEvents(_ body: ByteBuffer, keepAlive: Bool) {
        guard let context else { return }
        var batch = LineBatch()
        var ids = SplitMix64(seed: UInt64(truncatingIfNeeded: EventClock.monotonicNs()) ^ UInt64(UInt(bitPattern: ObjectIdentifier(self).hashValue)))
        let wallNs = EventClock.wallNs(), monoNs = EventClock.monotonicNs()
        var lines = 0
        body.withUnsafeReadableBytes { bytes in
            var start = 0
            while start < bytes.count {
                var end = start
                while end < bytes.count && bytes[end] != 0x0A { end += 1 }
                lines += 1
                core.intake.take(UnsafeRawBufferPointer(rebasing: bytes[start..<end]), number: lines, wallNs: wallNs,
                                 monoNs: monoNs, ids: &ids, into: &batch)
                start = end + 1
            }
        }
        core.counters.lines.add(UInt64(batch.events.count + batch.problems.count), ordering: .relaxed)
        let loop = context.eventLoop
        let bound = NIOLoopBound(self, eventLoop: loop)
        let problems = batch.problems, count = batch.events.count, received = batch.events.count + batch.problems.count
        let service = core
        core.recorder.record(contentsOf: batch.events) { result in
            service.noteSettled(result, count: count)
            loop.execute { bound.value.answerEvents(result, problems: problems, count: count, received: received, keepAlive: keepAlive) }
        }
    }

    private func answerEvents(_ result: Result<Void, PerfLogError>, problems: [LineProblem], count: Int, received: Int, keepAlive: Bool) {
        var committed = 0
        var status = HTTPResponseStatus.ok
        var failure: String?
        switch result {
        case .success: committed = count
        case .failure(let error):
            failure = "\(error)"
            status = .serviceUnavailable
        }
        if failure == nil && !problems.isEmpty { status = .unprocessableEntity }
        core.counters.committed.add(UInt64(committed), ordering: .relaxed)
        core.counters.rejected.add(UInt64(received - committed), ordering: .relaxed)
        var out: [UInt8] = []
        out.append(contentsOf: "{\"received\":\(received),\"committed\":\(committed),\"rejected\":\(received - committed)".utf8)
        if let failure { out.append(contentsOf: ",\"error\":\(JSONText.quoted("not stored: " + failure))".utf8) }
        out.append(contentsOf: ",\"errors\":[".utf8)
        for (i, p) in problems.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            p.reply(into: &out)
            out.removeLast()  // the line feed
        }
        out.append(contentsOf: "]}\n".utf8)
        respond(status, bytes: out, close: !keepAlive)
    }

    /// The streams' statistics as `perflog stats --json` prints them; `agent` and `cli`
    /// query parameters filter.
    private func getStreams(query: String, keepAlive: Bool, head: Bool) {
        var filter = StreamFilter()
        for pair in query.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let value = kv.count > 1 ? HTTPSession.percentDecoded(kv[1]) : ""
            switch kv[0] {
            case "agent": filter.agent = value
            case "cli": filter.cli = value
            default: break
            }
        }
        project(filter: filter, keepAlive: keepAlive, head: head, contentType: "application/json") { projection in
            guard !projection.streams.isEmpty else { return "[]\n" }
            return "[\n" + projection.streams.map { "  " + $0.jsonObject }.joined(separator: ",\n") + "\n]\n"
        }
    }

    /// The OpenMetrics exposition of the log's statistics, and the service's own
    /// counters; the classic Prometheus text format for a scraper that asks for it.
    private func getMetrics(classic: Bool, keepAlive: Bool, head: Bool) {
        let counters = core.counters.snapshot
        let contentType = classic ? "text/plain; version=0.0.4; charset=utf-8"
                                  : "application/openmetrics-text; version=1.0.0; charset=utf-8"
        project(filter: StreamFilter(), keepAlive: keepAlive, head: head, contentType: contentType) { projection in
            var text = projection.rendered(.openmetrics)
            if text.hasSuffix("# EOF\n") { text.removeLast(6) }
            text += ServiceMetrics.render(counters)
            text += "# EOF\n"
            return classic ? ServiceMetrics.classicText(fromOpenMetrics: text) : text
        }
    }

    private func getHealth(keepAlive: Bool, head: Bool) {
        let stopping = core.stopping.load(ordering: .relaxed)
        let degraded = stopping ? nil : core.degradedReason
        let c = core.counters.snapshot
        let status = stopping ? "\"stopping\"" : degraded.map { "\"degraded\",\"reason\":\(JSONText.quoted($0))" } ?? "\"ok\""
        let json = "{\"status\":\(status),\"log\":\(JSONText.quoted(core.log.path)),\"committed\":\(c.committed),\"openConnections\":\(c.openConnections)}\n"
        respond(stopping || degraded != nil ? .serviceUnavailable : .ok, bytes: Array(json.utf8), close: !keepAlive, head: head)
    }

    /// Projects the log on the thread pool and answers with `render`'s text.
    private func project(
        filter: StreamFilter, keepAlive: Bool, head: Bool, contentType: String,
        render: @escaping @Sendable (Projection) -> String
    ) {
        guard let context else { return }
        let log = core.log
        let options = { var o = Projector.Options(); o.measurements = false; return o }()
        let future = core.pool.runIfActive(eventLoop: context.eventLoop) { () throws -> String in
            let projection = try log.read { try Projector.project($0, filter: filter, now: EventClock.wallNs(), options: options) }
            return render(projection)
        }
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        future.whenComplete { result in
            let session = bound.value
            switch result {
            case .success(let text):
                var headers = HTTPHeaders()
                headers.add(name: "content-type", value: contentType)
                session.respond(.ok, bytes: Array(text.utf8), headers: headers, close: !keepAlive, head: head)
            case .failure(let error):
                session.respond(.internalServerError, json: "{\"error\":\(JSONText.quoted("cannot read the log: \(error)"))}\n",
                                close: !keepAlive)
            }
        }
    }

    // MARK: Responses

    private func respond(_ status: HTTPResponseStatus, json: String, headers: HTTPHeaders = HTTPHeaders(), close: Bool) {
        respond(status, bytes: Array(json.utf8), headers: headers, close: close)
    }

    private func respond(
        _ status: HTTPResponseStatus, bytes: [UInt8], headers extra: HTTPHeaders = HTTPHeaders(), close: Bool, head: Bool = false
    ) {
        busy = false
        guard let context, context.channel.isActive else { return }
        let close = close || draining
        var headers = extra
        if !headers.contains(name: "content-type") { headers.add(name: "content-type", value: "application/json") }
        headers.add(name: "content-length", value: String(bytes.count))
        if close { headers.add(name: "connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        if !head { context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: bytes)))), promise: nil) }
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if close {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }

    /// `%XX` escapes and `+` decoded, as in a URL's query; invalid escapes are kept.
    static func percentDecoded(_ s: Substring) -> String {
        var out: [UInt8] = []
        let b = Array(s.utf8)
        var i = 0
        while i < b.count {
            if b[i] == UInt8(ascii: "%"), i + 2 < b.count, let v = UInt8(String(decoding: b[(i + 1)...(i + 2)], as: UTF8.self), radix: 16) {
                out.append(v)
                i += 3
            } else {
                out.append(b[i] == UInt8(ascii: "+") ? 0x20 : b[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// The service's own counters in OpenMetrics text.
enum ServiceMetrics {
    /// Whether a scraper's `Accept` header asks for the classic text format (0.0.4) and
    /// not OpenMetrics: it names `text/plain` and not `application/openmetrics-text`.
    /// Without a preference, the answer is OpenMetrics.
    static func wantsClassicText(accept: [String]) -> Bool {
        let value = accept.joined(separator: ",").lowercased()
        return value.contains("text/plain") && !value.contains("application/openmetrics-text")
    }

    /// OpenMetrics text in the classic Prometheus format: no `# UNIT` or `# EOF`, and a
    /// counter's `# TYPE`/`# HELP` name its `_total` sample (the classic format's rule).
    static func classicText(fromOpenMetrics text: String) -> String {
        var counters = Set<Substring>()
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        for line in lines where line.hasPrefix("# TYPE ") && line.hasSuffix(" counter") {
            counters.insert(line.dropFirst(7).dropLast(8))
        }
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for line in lines {
            if line.hasPrefix("# UNIT ") || line == "# EOF" { continue }
            if line.hasPrefix("# TYPE ") || line.hasPrefix("# HELP ") {
                let rest = line.dropFirst(7)
                let name = rest.prefix { $0 != " " }
                if counters.contains(name) {
                    out += line.prefix(7) + name + "_total" + rest.dropFirst(name.count) + "\n"
                    continue
                }
            }
            if !line.isEmpty { out += line + "\n" }
        }
        return out
    }

    static func render(_ c: ServiceCounters) -> String {
        var out = ""
        func counter(_ name: String, _ help: String, _ value: UInt64) {
            out += "# TYPE \(name) counter\n# HELP \(name) \(help)\n\(name)_total \(value)\n"
        }
        counter("perflog_serve_lines", "Lines received by this service (blank lines excepted).", c.lines)
        counter("perflog_serve_events_committed", "Events this service committed to the log.", c.committed)
        counter("perflog_serve_lines_rejected", "Lines this service refused with an error reply.", c.rejected)
        counter("perflog_serve_connections", "Socket connections accepted.", c.connections)
        counter("perflog_serve_http_requests", "HTTP requests answered.", c.httpRequests)
        out += "# TYPE perflog_serve_open_connections gauge\n# HELP perflog_serve_open_connections Socket connections open now.\n"
        out += "perflog_serve_open_connections \(c.openConnections)\n"
        return out
    }
}
