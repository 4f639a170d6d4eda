import NIOCore
import PerfLog
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One client on the service's Unix socket: NDJSON lines in, replies out.
///
/// Lines are taken as they arrive; each read's lines are recorded together and
/// answered once their commit returns: error replies for the lines that broke a rule,
/// then `{"ack":N}`, meaning every line up to N is handled (committed, unless an error
/// reply named it). A line counts only once its line feed arrives, so a client that
/// dies mid-line leaves nothing half-recorded.
///
/// The session stops reading while it has ``ServiceLimits/window`` events waiting for
/// their commit (or all sessions together have ``ServiceLimits/totalWindow``), or
/// while the client is not reading its replies: a slow client slows only itself.
final class LineSession: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let core: ServiceCore
    private var context: ChannelHandlerContext?
    /// An unterminated line carried over from earlier reads.
    private var partial: [UInt8] = []
    /// Inside a line already reported as too long: skip to its line feed.
    private var discarding = false
    private var lineNumber = 0
    /// The last line number a submitted batch covers.
    private var submittedUpTo = 0
    /// Events recorded and not yet settled.
    private var inFlight = 0
    /// Reads recorded and not yet answered.
    private var unanswered = 0
    private var readHeld = false
    private var waitingForRoom = false
    private var inputClosed = false
    private var draining = false
    private var closing = false
    private var ids: SplitMix64
    /// Fires when the current line has stayed incomplete for ``ServiceLimits/lineTimeout``.
    private var lineTimer: Scheduled<Void>?
    /// The number the incomplete line will have, which `lineTimer` watches.
    private var timedLine = 0

    init(core: ServiceCore, seed: UInt64) {
        self.core = core
        ids = SplitMix64(seed: seed)
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) {
        lineTimer?.cancel()
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        core.counters.connections.add(1, ordering: .relaxed)
        let open = core.counters.openConnections.add(1, ordering: .relaxed).newValue
        if open > UInt64(core.limits.maxConnections) {
            let refusal = "{\"error\":\"too many connections (the limit is \(core.limits.maxConnections)); try again later\"}\n"
            context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: refusal)), promise: nil)
            close()
            return
        }
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        core.register(context.channel) { bound.value.drain() }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        core.counters.openConnections.subtract(1, ordering: .relaxed)
        core.unregister(context.channel)
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing, !inputClosed else { return }
        let buffer = unwrapInboundIn(data)
        let wallNs = EventClock.wallNs(), monoNs = EventClock.monotonicNs()
        var batch = LineBatch()
        buffer.withUnsafeReadableBytes { bytes in
            split(bytes, wallNs: wallNs, monoNs: monoNs, into: &batch)
        }
        submit(batch)
        watchIncompleteLine()
    }

    /// Starts the line timer when a line is left incomplete, and stops it once none is.
    private func watchIncompleteLine() {
        guard !partial.isEmpty else {
            lineTimer?.cancel()
            lineTimer = nil
            return
        }
        guard lineTimer == nil || timedLine != lineNumber + 1 else { return }
        lineTimer?.cancel()
        lineTimer = nil
        guard let context, let timeout = core.limits.lineTimeout else { return }
        timedLine = lineNumber + 1
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let line = timedLine
        let ns = timeout.components.seconds * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000
        lineTimer = context.eventLoop.scheduleTask(in: .nanoseconds(ns)) { bound.value.lineTimedOut(line, after: timeout) }
    }

    /// The line is still incomplete: refuse it, answer what came before, and close.
    private func lineTimedOut(_ line: Int, after timeout: Duration) {
        lineTimer = nil
        guard !closing, !inputClosed, !draining, !partial.isEmpty, lineNumber + 1 == line else { return }
        lineNumber += 1
        partial.removeAll()
        var batch = LineBatch()
        batch.problems.append(LineProblem(
            line: lineNumber, field: nil,
            message: "no line feed within \(timeout.components.seconds) s of the line's first byte; the connection is closed"))
        draining = true
        submit(batch)
    }

    /// Cuts `bytes` into lines, joining the carried-over part, and takes each.
    private func split(_ bytes: UnsafeRawBufferPointer, wallNs: Int64, monoNs: UInt64, into batch: inout LineBatch) {
        let maxLine = core.limits.maxLineBytes
        var start = 0
        while start < bytes.count {
            let rest = UnsafeRawBufferPointer(rebasing: bytes[start...])
            guard let base = rest.baseAddress, let found = memchr(base, 0x0A, rest.count) else {
                // No line feed: carry the fragment over (or keep skipping a long line).
                if !discarding {
                    if partial.count + rest.count > maxLine {
                        lineNumber += 1
                        batch.problems.append(LineProblem(line: lineNumber, field: nil, message: "is longer than \(maxLine) bytes"))
                        partial.removeAll()
                        discarding = true
                    } else {
                        partial.append(contentsOf: rest)
                    }
                }
                return
            }
            let end = start + (UnsafeRawPointer(found) - base)
            let line = UnsafeRawBufferPointer(rebasing: bytes[start..<end])
            start = end + 1
            if discarding {
                discarding = false
                partial.removeAll()
                continue
            }
            lineNumber += 1
            if partial.isEmpty {
                core.intake.take(line, number: lineNumber, wallNs: wallNs, monoNs: monoNs, ids: &ids, into: &batch)
            } else {
                partial.append(contentsOf: line)
                partial.withUnsafeBytes { whole in
                    core.intake.take(whole, number: lineNumber, wallNs: wallNs, monoNs: monoNs, ids: &ids, into: &batch)
                }
                partial.removeAll(keepingCapacity: partial.count <= 4096)
            }
        }
    }

    /// Records a batch and answers it once it is settled.
    private func submit(_ batch: LineBatch) {
        guard let context, !batch.isEmpty || lineNumber > submittedUpTo else { return }
        let upTo = lineNumber
        submittedUpTo = upTo
        let count = batch.events.count
        inFlight += count
        core.recorded(count)
        unanswered += 1
        core.counters.lines.add(UInt64(count + batch.problems.count), ordering: .relaxed)
        let loop = context.eventLoop
        let bound = NIOLoopBound(self, eventLoop: loop)
        let problems = batch.problems, eventLines = batch.eventLines
        let core = core
        core.recorder.record(contentsOf: batch.events) { result in
            core.noteSettled(result, count: count)
            loop.execute { bound.value.answer(result, problems: problems, eventLines: eventLines, upTo: upTo) }
        }
    }

    /// Sends a settled read's replies: its problems (and, if its commit failed, one error
    /// per event line), then the acknowledgement.
    private func answer(_ result: Result<Void, PerfLogError>, problems: [LineProblem], eventLines: [Int], upTo: Int) {
        inFlight -= eventLines.count
        core.settled(eventLines.count)
        unanswered -= 1
        var all = problems
        switch result {
        case .success:
            core.counters.committed.add(UInt64(eventLines.count), ordering: .relaxed)
        case .failure(let error):
            let message = ServiceCore.notStored(error)
            for line in eventLines { all.append(LineProblem(line: line, field: nil, message: message)) }
            all.sort { $0.line < $1.line }
        }
        core.counters.rejected.add(UInt64(all.count), ordering: .relaxed)
        guard let context, context.channel.isActive else { return }
        var out: [UInt8] = []
        out.reserveCapacity(16 + all.count * 80)
        for p in all { p.reply(into: &out) }
        out.append(contentsOf: "{\"ack\":\(upTo)}\n".utf8)
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(bytes: out)), promise: nil)
        if (inputClosed || draining) && unanswered == 0 {
            close()
        } else {
            resumeIfPossible()
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let event = event as? ChannelEvent, event == .inputClosed else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        // The client shut down its side (or died): what it sent in full is recorded
        // and answered; an unterminated last line is refused, since it may be cut.
        inputClosed = true
        var batch = LineBatch()
        if !discarding, partial.contains(where: { !($0 == 0x20 || $0 == 0x09 || $0 == 0x0D) }) {
            lineNumber += 1
            batch.problems.append(LineProblem(
                line: lineNumber, field: nil,
                message: "ends without a line feed (the connection closed mid-line); not recorded"))
        }
        partial.removeAll()
        submit(batch)
        if unanswered == 0 { close() }
    }

    func read(context: ChannelHandlerContext) {
        if mayRead(context) {
            context.read()
        } else {
            readHeld = true
        }
    }

    private func mayRead(_ context: ChannelHandlerContext) -> Bool {
        guard inFlight < core.limits.window, context.channel.isWritable, !draining, !inputClosed else { return false }
        guard core.isOverTotalWindow else { return true }
        if !waitingForRoom {
            waitingForRoom = true
            let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
            let loop = context.eventLoop
            core.waitForRoom { loop.execute { bound.value.roomCame() } }
        }
        return false
    }

    private func roomCame() {
        waitingForRoom = false
        resumeIfPossible()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        resumeIfPossible()
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A reset connection or a failed write: the client is gone; what it sent in
        // full is still recorded.
        closing = true
        context.close(promise: nil)
    }

    private func resumeIfPossible() {
        guard readHeld, let context, mayRead(context) else { return }
        readHeld = false
        context.read()
    }

    /// Stops taking lines (the service is stopping): answers what is in flight, then
    /// closes.
    private func drain() {
        draining = true
        if unanswered == 0 { close() }
    }

    /// Closes once every reply written so far has reached the socket: closing at once
    /// would discard replies a client has not read yet (and it would resend lines that
    /// were committed). A client that never reads is closed by the shutdown's timeout.
    private func close() {
        guard !closing, let context else { return }
        closing = true
        let channel = context.channel
        let written = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(channel.allocator.buffer(capacity: 0)), promise: written)
        written.futureResult.whenComplete { _ in channel.close(promise: nil) }
    }
}
