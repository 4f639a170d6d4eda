import NIOCore
import PerfLog

/// One client on the service's Unix socket: lines in (from a ``LineFrameDecoder``),
/// replies out.
///
/// Lines are taken as they arrive; each read's lines are recorded together and
/// answered once their commit returns: error replies for the lines that broke a rule,
/// then `{"ack":N}`, meaning every line up to N is handled (committed, unless an error
/// reply named it). A line counts only once its line feed arrives, so a client that
/// dies mid-line leaves nothing half-recorded. Batches are recorded and answered in
/// the order they were read, also when one waits for an open mark to be looked up in
/// the log.
///
/// The session stops reading while it has ``ServiceLimits/window`` events waiting for
/// their commit (or all sessions together have ``ServiceLimits/totalWindow``), or
/// while the client is not reading its replies: a slow client slows only itself. Its
/// state is one ``LineSessionState``.
final class LineSession: ChannelDuplexHandler {
    typealias InboundIn = LineFrame
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let core: ServiceCore
    private var context: ChannelHandlerContext?
    private var state: LineSessionState
    /// The lines of the read under way, submitted when it completes.
    private var batch = LineBatch()
    /// When the read under way was received: wall clock, then monotonic.
    private var received: (wallNs: Int64, monoNs: UInt64)?
    private var ids: SplitMix64
    /// Fires when the current line has stayed incomplete for ``ServiceLimits/lineTimeout``.
    private var lineTimer: Scheduled<Void>?
    /// Completes once the last submitted batch is handed to the recorder: the next one
    /// waits for it, so that batches are recorded in line order.
    private var handedOff: EventLoopFuture<Void>?

    init(core: ServiceCore, seed: UInt64) {
        self.core = core
        state = LineSessionState(window: core.limits.window)
        ids = SplitMix64(seed: seed)
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) {
        stopLineTimer()
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        core.counters.connections.add(1, ordering: .relaxed)
        let open = core.counters.openConnections.add(1, ordering: .relaxed).newValue
        if open > UInt64(core.limits.maxConnections) {
            let refusal = LineReplies.tooManyConnections(limit: core.limits.maxConnections)
            context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: refusal)), promise: nil)
            if state.close() { flushThenClose() }
            return
        }
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        core.register(context.channel) { bound.value.drain() }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        core.counters.openConnections.subtract(1, ordering: .relaxed)
        core.unregister(context.channel)
        stopLineTimer()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard state.takesLines else { return }
        switch unwrapInboundIn(data) {
        case .lines(let lines):
            stopLineTimer()
            let at = receivedNow()
            lines.withUnsafeReadableBytes { bytes in
                var start = 0
                while let feed = LineFeed.first(in: bytes, from: start) {
                    let line = UnsafeRawBufferPointer(rebasing: bytes[start..<feed])
                    core.intake.take(line, number: state.nextLine(), wallNs: at.wallNs, monoNs: at.monoNs, ids: &ids, into: &batch)
                    start = feed + 1
                }
            }
        case .tooLong:
            stopLineTimer()
            batch.problems.append(LineReplies.tooLong(line: state.nextLine(), limit: core.limits.maxLineBytes))
        case .begun:
            startLineTimer(for: state.lineNumber + 1)
        case .cutOff(let rest):
            if let problem = LineReplies.cutOff(rest.readableBytesView, line: state.lineNumber + 1) {
                _ = state.nextLine()
                batch.problems.append(problem)
            }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        submit()
        context.fireChannelReadComplete()
    }

    private func receivedNow() -> (wallNs: Int64, monoNs: UInt64) {
        if let received { return received }
        let now = (wallNs: EventClock.wallNs(), monoNs: EventClock.monotonicNs())
        received = now
        return now
    }

    // MARK: The line timer

    private func startLineTimer(for line: Int) {
        stopLineTimer()
        guard let context, let timeout = core.limits.lineTimeout, case .open = state.phase else { return }
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let ns = timeout.components.seconds * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000
        lineTimer = context.eventLoop.scheduleTask(in: .nanoseconds(ns)) { bound.value.lineTimedOut(line, after: timeout) }
    }

    private func stopLineTimer() {
        lineTimer?.cancel()
        lineTimer = nil
    }

    /// The line is still incomplete: refuse it, answer what came before, and close.
    private func lineTimedOut(_ line: Int, after timeout: Duration) {
        lineTimer = nil
        guard state.lineTimedOut(line) else { return }
        batch.problems.append(LineReplies.timedOut(line: state.nextLine(), after: timeout))
        submit()
    }

    // MARK: Recording and answering

    /// Records the batch of the read under way (its open marks looked up first, if it
    /// needs any), after the batches before it, and answers it once it is settled.
    private func submit() {
        guard let context, state.isDue(batch.isEmpty) else { return }
        let batch = self.batch
        self.batch = LineBatch()
        received = nil
        // Measures waiting for their mark hold their place in the window too.
        let reserved = batch.events.count + batch.unpaired.count
        guard let upTo = state.submit(events: reserved) else { return }
        core.recorded(reserved)
        core.counters.lines.add(UInt64(batch.received), ordering: .relaxed)
        let loop = context.eventLoop
        let bound = NIOLoopBound(self, eventLoop: loop)
        let resolved = core.intake.resolve(batch, on: loop)
        let turn = (handedOff ?? loop.makeSucceededVoidFuture()).flatMap { resolved }.map { batch in
            bound.value.record(batch, upTo: upTo, reserved: reserved)
        }
        handedOff = turn
    }

    private func record(_ batch: LineBatch, upTo: Int, reserved: Int) {
        guard let loop = context?.eventLoop else {
            // Removed from the pipeline: nothing to answer, but the window is given back.
            core.settled(reserved)
            return
        }
        let bound = NIOLoopBound(self, eventLoop: loop)
        let core = core
        let count = batch.events.count
        core.sink.record(contentsOf: batch.events) { result in
            core.noteSettled(result, count: count)
            loop.execute { bound.value.answer(result, batch: batch, upTo: upTo, reserved: reserved) }
        }
    }

    /// Sends a settled batch's replies: its problems (and, if its commit failed, one
    /// error per event line), then the acknowledgement.
    private func answer(_ result: Result<Void, PerfLogError>, batch: LineBatch, upTo: Int, reserved: Int) {
        core.settled(reserved)
        let action = state.answered(events: reserved)
        var all = batch.problems
        switch result {
        case .success:
            core.counters.committed.add(UInt64(batch.events.count), ordering: .relaxed)
        case .failure(let error):
            for line in batch.eventLines { all.append(LineReplies.notStored(line: line, error, core.describe)) }
            all.sort { $0.line < $1.line }
        }
        core.counters.rejected.add(UInt64(all.count), ordering: .relaxed)
        guard action != .drop, let context, context.channel.isActive else { return }
        var out: [UInt8] = []
        out.reserveCapacity(16 + all.count * 80)
        for p in all { LineReplies.problem(p, into: &out) }
        LineReplies.ack(upTo, into: &out)
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(bytes: out)), promise: nil)
        if action == .writeAndClose {
            flushThenClose()
        } else {
            resumeReading()
        }
    }

    // MARK: Reading

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let event = event as? ChannelEvent, event == .inputClosed else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        // The client shut down its side (or died): what it sent in full is recorded
        // and answered; an unterminated last line (the decoder's cut-off) is refused.
        state.inputClosed()
        submit()
        if state.closeIfSettled() { flushThenClose() }
    }

    func read(context: ChannelHandlerContext) {
        act(state.read(writable: context.channel.isWritable, overTotalWindow: core.isOverTotalWindow))
    }

    private func resumeReading() {
        guard let context,
              let action = state.resume(writable: context.channel.isWritable, overTotalWindow: core.isOverTotalWindow)
        else { return }
        act(action)
    }

    private func act(_ action: LineSessionState.ReadAction) {
        guard let context else { return }
        switch action {
        case .read:
            context.read()
        case .hold:
            break
        case .holdAndWaitForRoom:
            let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
            let loop = context.eventLoop
            core.waitForRoom { loop.execute { bound.value.roomCame() } }
        }
    }

    private func roomCame() {
        state.roomCame()
        resumeReading()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        resumeReading()
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A reset connection or a failed write: the client is gone; what it sent in
        // full is still recorded.
        _ = state.close()
        context.close(promise: nil)
    }

    // MARK: Closing

    /// Stops taking lines (the service is stopping): answers what is in flight, then
    /// closes.
    private func drain() {
        state.drain()
        if state.closeIfSettled() { flushThenClose() }
    }

    /// Closes once every reply written so far has reached the socket: closing at once
    /// would discard replies a client has not read yet (and it would resend lines that
    /// were committed). A client that never reads is closed by the shutdown's timeout.
    private func flushThenClose() {
        guard let context else { return }
        let channel = context.channel
        let written = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(channel.allocator.buffer(capacity: 0)), promise: written)
        written.futureResult.whenComplete { _ in channel.close(promise: nil) }
    }
}
