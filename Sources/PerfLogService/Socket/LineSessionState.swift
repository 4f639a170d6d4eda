/// The state of one socket connection, as its ``LineSession`` keeps it: whether it
/// takes lines, what it has in flight, whether it reads, and when it closes.
///
/// A value with no I/O of its own: each event (a line, an answer, a read asked for,
/// the input closing, the service stopping) is a call that changes the state and says
/// what the session is to do.
struct LineSessionState {
    /// Why a connection takes no more reads.
    enum Finish: Equatable {
        /// The client shut down its side (or died).
        case inputClosed
        /// The service is stopping.
        case stopping
        /// A line stayed without its line feed past ``ServiceLimits/lineTimeout``.
        case lineTimedOut
    }

    /// Whether the session passes reads on.
    enum Reading: Equatable {
        case flowing
        /// A read was asked for and not passed on: the window is full, or the client is
        /// not reading its replies.
        case held
        /// Held because all connections together are over the total window, and waiting
        /// to be told there is room.
        case heldForRoom
    }

    /// What a connection has in flight.
    struct Flow: Equatable {
        /// Events recorded and not yet settled.
        var inFlight = 0
        /// Batches recorded and not yet answered.
        var unanswered = 0
        var reading = Reading.flowing
    }

    enum Phase: Equatable {
        /// Taking lines.
        case open(Flow)
        /// Taking no more reads: answers what is in flight, then closes.
        case finishing(Flow, Finish)
        /// What was written is being flushed; then the channel closes. Nothing more is
        /// written.
        case closing
    }

    /// What to do with a read the channel asks for.
    enum ReadAction: Equatable {
        case read
        case hold
        /// Hold it, and ask the service to be told when there is room again.
        case holdAndWaitForRoom
    }

    /// What to do with the replies of an answered batch.
    enum AnswerAction: Equatable {
        /// Write them (and see whether reading can resume).
        case write
        /// Write them, then close: they were the last.
        case writeAndClose
        /// Write nothing: the connection is closing.
        case drop
    }

    private(set) var phase = Phase.open(Flow())
    /// The number of the last line counted on this connection (complete, too long, cut
    /// off or timed out), from 1.
    private(set) var lineNumber = 0
    /// The last line number a submitted batch covers.
    private(set) var submittedUpTo = 0
    /// Events one connection may have in flight before it stops reading.
    let window: Int

    init(window: Int) { self.window = window }

    /// Whether lines that arrive are taken: yes while open, and while stopping (what was
    /// read before is still answered); not once the input closed or a line timed out.
    var takesLines: Bool {
        switch phase {
        case .open, .finishing(_, .stopping): return true
        case .finishing, .closing: return false
        }
    }

    /// Counts the next line and returns its number.
    mutating func nextLine() -> Int {
        lineNumber += 1
        return lineNumber
    }

    /// Whether a batch is due: it holds something, or lines (blank ones) were counted
    /// since the last.
    func isDue(_ batchIsEmpty: Bool) -> Bool {
        !batchIsEmpty || lineNumber > submittedUpTo
    }

    /// Notes a batch of `events` submitted; returns the line number it acknowledges, or
    /// `nil` when the connection is closing (nothing is submitted).
    mutating func submit(events: Int) -> Int? {
        func add(_ flow: inout Flow) {
            flow.inFlight += events
            flow.unanswered += 1
        }
        switch phase {
        case .open(var flow):
            add(&flow)
            phase = .open(flow)
        case .finishing(var flow, let why):
            add(&flow)
            phase = .finishing(flow, why)
        case .closing:
            return nil
        }
        submittedUpTo = lineNumber
        return lineNumber
    }

    /// Notes a batch of `events` answered (settled).
    mutating func answered(events: Int) -> AnswerAction {
        switch phase {
        case .open(var flow):
            flow.inFlight -= events
            flow.unanswered -= 1
            phase = .open(flow)
            return .write
        case .finishing(var flow, let why):
            flow.inFlight -= events
            flow.unanswered -= 1
            if flow.unanswered == 0 {
                phase = .closing
                return .writeAndClose
            }
            phase = .finishing(flow, why)
            return .write
        case .closing:
            return .drop
        }
    }

    /// The channel asks for a read.
    mutating func read(writable: Bool, overTotalWindow: Bool) -> ReadAction {
        guard case .open(var flow) = phase else { return .hold }
        let action = decide(&flow, writable: writable, overTotalWindow: overTotalWindow)
        phase = .open(flow)
        return action
    }

    /// Something changed (an answer, the socket writable again, room): a held read may
    /// go on. `nil` when no read is held.
    mutating func resume(writable: Bool, overTotalWindow: Bool) -> ReadAction? {
        guard case .open(var flow) = phase, flow.reading != .flowing else { return nil }
        let action = decide(&flow, writable: writable, overTotalWindow: overTotalWindow)
        phase = .open(flow)
        return action
    }

    /// The service says there is room again (the session then calls ``resume(writable:overTotalWindow:)``).
    mutating func roomCame() {
        guard case .open(var flow) = phase, flow.reading == .heldForRoom else { return }
        flow.reading = .held
        phase = .open(flow)
    }

    private func decide(_ flow: inout Flow, writable: Bool, overTotalWindow: Bool) -> ReadAction {
        guard flow.inFlight < window, writable else {
            if flow.reading == .flowing { flow.reading = .held }
            return .hold
        }
        guard overTotalWindow else {
            flow.reading = .flowing
            return .read
        }
        if flow.reading == .heldForRoom { return .hold }
        flow.reading = .heldForRoom
        return .holdAndWaitForRoom
    }

    /// The client closed its side: no more lines; what it sent is answered.
    mutating func inputClosed() {
        switch phase {
        case .open(let flow), .finishing(let flow, _): phase = .finishing(flow, .inputClosed)
        case .closing: break
        }
    }

    /// The service is stopping: no more reads; what was read is answered.
    mutating func drain() {
        if case .open(let flow) = phase { phase = .finishing(flow, .stopping) }
    }

    /// The line `line` is still incomplete after the line timeout: whether it is
    /// refused now (it is the next line, and the connection is open), ending the
    /// connection once answered.
    mutating func lineTimedOut(_ line: Int) -> Bool {
        guard case .open(let flow) = phase, line == lineNumber + 1 else { return false }
        phase = .finishing(flow, .lineTimedOut)
        return true
    }

    /// Closes when finishing with nothing left to answer; whether it did.
    mutating func closeIfSettled() -> Bool {
        guard case .finishing(let flow, _) = phase, flow.unanswered == 0 else { return false }
        phase = .closing
        return true
    }

    /// Closes whatever is in flight; whether it was not closing already.
    mutating func close() -> Bool {
        if case .closing = phase { return false }
        phase = .closing
        return true
    }
}
