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
/// It sees whole requests: NIO's aggregator before it collects each body up to
/// ``ServiceLimits/maxRequestBytes`` (beyond it the aggregator answers 413 and its
/// error closes the connection here), and ``HTTPAdmission`` before that has refused a
/// connection past the limit and a `POST /events` without the token.
///
/// Requests are answered one at a time, in order (NIO's pipeline handler holds back
/// pipelined ones).
final class HTTPSession: ChannelInboundHandler {
    typealias InboundIn = NIOHTTPServerRequestFull
    typealias OutboundOut = HTTPServerResponsePart

    private enum Phase {
        /// Waiting for a request.
        case waiting
        /// Answering a request.
        case answering
        /// Answering a request, the last: the service is stopping.
        case answeringLast
        /// Closed, or closing: nothing more is answered.
        case closed
    }

    private let core: ServiceCore
    private var context: ChannelHandlerContext?
    private var phase = Phase.waiting

    init(core: ServiceCore) { self.core = core }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func channelActive(context: ChannelHandlerContext) {
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        core.register(context.channel) { bound.value.drain() }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        phase = .closed
        core.unregister(context.channel)
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .waiting = phase else { return }
        let request = unwrapInboundIn(data)
        phase = .answering
        route(request.head, body: request.body ?? ByteBuffer())
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A body over the limit (already answered 413 by the aggregator), or a broken
        // connection.
        phase = .closed
        context.close(promise: nil)
    }

    private func drain() {
        switch phase {
        case .waiting:
            phase = .closed
            context?.close(promise: nil)
        case .answering:
            phase = .answeringLast
        case .answeringLast, .closed:
            break
        }
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
                getMetrics(format: ServiceMetrics.format(accept: head.headers["accept"]), keepAlive: keepAlive,
                           head: head.method == .HEAD)
            }
        case "/healthz": only([.GET, .HEAD]) { getHealth(keepAlive: keepAlive, head: head.method == .HEAD) }
        case "/":
            only([.GET, .HEAD]) {
                // A browser gets the live report; curl and scripts the list of routes.
                if head.headers["accept"].contains(where: { $0.contains("text/html") }) {
                    getReport(keepAlive: keepAlive, head: head.method == .HEAD)
                    return
                }
                let post = core.httpToken == nil ? "POST /events    disabled (the service has no --http-token-file)"
                                                 : "POST /events    NDJSON events (Authorization: Bearer <token>)"
                let text = "perflog serve\n\nGET /            the live report (HTML, for a browser: Accept: text/html)\nGET /streams    the streams' figures (JSON)\nGET /metrics    OpenMetrics\nGET /healthz    status (JSON)\n\(post)\n"
                var headers = HTTPHeaders()
                headers.add(name: "content-type", value: "text/plain; charset=utf-8")
                respond(.ok, bytes: Array(text.utf8), headers: headers, close: !keepAlive, head: head.method == .HEAD)
            }
        default:
            respond(.notFound, json: "{\"error\":\"no such path: \(JSONBuffer.quoted(path).dropFirst().dropLast()); try /events, /streams, /metrics or /healthz\"}\n",
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
        core.counters.lines.add(UInt64(batch.received), ordering: .relaxed)
        let loop = context.eventLoop
        let bound = NIOLoopBound(self, eventLoop: loop)
        let service = core
        core.intake.resolve(batch, on: loop).whenSuccess { batch in
            let problems = batch.problems, count = batch.events.count, received = batch.received
            service.sink.record(contentsOf: batch.events) { result in
                service.noteSettled(result, count: count)
                loop.execute {
                    bound.value.answerEvents(result, problems: problems, count: count, received: received, keepAlive: keepAlive)
                }
            }
        }
    }

    private func answerEvents(_ result: Result<Void, PerfLogError>, problems: [LineProblem], count: Int, received: Int, keepAlive: Bool) {
        var committed = 0
        var status = HTTPResponseStatus.ok
        var failure: String?
        switch result {
        case .success: committed = count
        case .failure(let error):
            failure = core.describe(error)
            status = .serviceUnavailable
        }
        if failure == nil && !problems.isEmpty { status = .unprocessableEntity }
        core.counters.committed.add(UInt64(committed), ordering: .relaxed)
        core.counters.rejected.add(UInt64(received - committed), ordering: .relaxed)
        var out: [UInt8] = []
        out.append(contentsOf: "{\"received\":\(received),\"committed\":\(committed),\"rejected\":\(received - committed)".utf8)
        if let failure { out.append(contentsOf: ",\"error\":\(JSONBuffer.quoted("not stored: " + failure))".utf8) }
        out.append(contentsOf: ",\"errors\":[".utf8)
        for (i, p) in problems.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            LineReplies.problem(p, into: &out)
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

    /// The HTML report of the whole log, as `perflog report` writes it, refreshing its
    /// figures from `/streams` and `/healthz` every few seconds.
    private func getReport(keepAlive: Bool, head: Bool) {
        guard let context else { return }
        let log = core.log
        let future = core.pool.runIfActive(eventLoop: context.eventLoop) { () throws -> [ByteBuffer] in
            let projection = try log.read { try Projector.project($0, now: EventClock.wallNs()) }
            var options = HTMLReport.Options()
            options.title = "perflog serve: live report"
            options.logPath = log.path
            options.live = true
            return [ByteBuffer(bytes: HTMLReport.render(projection, options: options))]
        }
        answer(future, contentType: "text/html; charset=utf-8", keepAlive: keepAlive, head: head)
    }

    /// The exposition of the log's metrics and the service's own counters: OpenMetrics,
    /// or the classic Prometheus text format for a scraper that asks for it. Built from
    /// stream records and the texts kept of unchanged streams (``MetricsCache``).
    private func getMetrics(format: ExpositionFormat, keepAlive: Bool, head: Bool) {
        guard let context else { return }
        let core = self.core
        let future = core.pool.runIfActive(eventLoop: context.eventLoop) { () throws -> [ByteBuffer] in
            try core.metrics.scrape(core.log, format: format, now: EventClock.wallNs()) { exposition in
                var counters = core.counters.snapshot
                counters.duplicates = core.sink.duplicates
                return ServiceMetrics.render(counters, with: exposition, format: format)
            }
        }
        answer(future, contentType: format.contentType, keepAlive: keepAlive, head: head)
    }

    private func getHealth(keepAlive: Bool, head: Bool) {
        let stopping = core.stopping.load(ordering: .relaxed)
        let degraded = stopping ? nil : core.degradedReason
        let c = core.counters.snapshot
        let status = stopping ? "\"stopping\"" : degraded.map { "\"degraded\",\"reason\":\(JSONBuffer.quoted($0))" } ?? "\"ok\""
        let json = "{\"status\":\(status),\"log\":\(JSONBuffer.quoted(core.log.path)),\"committed\":\(c.committed),\"openConnections\":\(c.openConnections)}\n"
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
        let future = core.pool.runIfActive(eventLoop: context.eventLoop) { () throws -> [ByteBuffer] in
            let projection = try log.read { try Projector.project($0, filter: filter, now: EventClock.wallNs(), options: options) }
            return [ByteBuffer(string: render(projection))]
        }
        answer(future, contentType: contentType, keepAlive: keepAlive, head: head)
    }

    /// Answers with what `future` makes on the thread pool, or 500 when it fails.
    private func answer(_ future: EventLoopFuture<[ByteBuffer]>, contentType: String, keepAlive: Bool, head: Bool) {
        guard let context else { return }
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let describe = core.describe
        future.whenComplete { result in
            let session = bound.value
            switch result {
            case .success(let parts):
                var headers = HTTPHeaders()
                headers.add(name: "content-type", value: contentType)
                session.respond(.ok, body: parts, headers: headers, close: !keepAlive, head: head)
            case .failure(let failure):
                let error = (failure as? PerfLogError).map(describe) ?? "\(failure)"
                session.respond(.internalServerError, json: "{\"error\":\(JSONBuffer.quoted("cannot read the log: \(error)"))}\n",
                                close: !keepAlive)
            }
        }
    }

    // MARK: Responses

    private func respond(_ status: HTTPResponseStatus, json: String, headers: HTTPHeaders = HTTPHeaders(), close: Bool) {
        respond(status, bytes: Array(json.utf8), headers: headers, close: close)
    }

    private func respond(
        _ status: HTTPResponseStatus, bytes: [UInt8], headers: HTTPHeaders = HTTPHeaders(), close: Bool, head: Bool = false
    ) {
        guard let context else { return }
        respond(status, body: [context.channel.allocator.buffer(bytes: bytes)], headers: headers, close: close, head: head)
    }

    private func respond(
        _ status: HTTPResponseStatus, body: [ByteBuffer], headers: HTTPHeaders = HTTPHeaders(), close: Bool, head: Bool = false
    ) {
        let last: Bool
        switch phase {
        case .answering:
            last = close
            phase = close ? .closed : .waiting
        case .answeringLast:
            last = true
            phase = .closed
        case .waiting, .closed:
            return
        }
        guard let context else { return }
        HTTPResponder.respond(context, status, body: body, headers: headers, close: last, head: head)
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

