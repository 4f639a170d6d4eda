import PerfLog

/// One line of NDJSON sent to a running service (`perflog serve`): perflog's event
/// shape, with what a client cannot or need not know left out.
///
/// The fields and their rules are those of perflog's NDJSON (``ImportedEvents``), but
/// fewer are required, because the service fills them in:
/// - `time` defaults to when the service received the line;
/// - `pid` defaults to 0 (the client's process is not known);
/// - `seq` is ignored, as on import.
///
/// A **mark** needs `kind`, `agent`, `cli` and `invocation` (so that its measure can
/// name it). A **measure** needs `kind` and `outcome`, and either
/// - `agent`, `cli` and `durationMs` (timed by the client; `invocation` is then
///   optional, a fresh one is given), or
/// - `invocation` without `durationMs`: it ends the mark with that invocation, and its
///   duration is the time between the two (``Ending``). `agent` and `cli` may then be
///   left out; when given they must be the mark's.
public enum IncomingEvent: Sendable, Hashable {
    /// An event ready to record.
    case complete(Event)
    /// A measure that ends an earlier mark: its duration comes from that mark.
    case ending(Ending)

    /// A measure without a duration, naming the mark it ends.
    public struct Ending: Sendable, Hashable {
        /// The invocation of the mark it ends.
        public var invocation: InvocationID
        /// The stream, when the line named it (it must then be the mark's).
        public var stream: StreamName?
        /// How the invocation ended.
        public var outcome: Outcome
        /// The exit code, if any.
        public var exitCode: Int32?
        /// The signal that ended the invocation, if one did (then `outcome` is failed).
        public var signal: Int32? = nil
        /// When it ended, in nanoseconds since the Unix epoch, when the line said; else
        /// `nil` (it ended when the line arrived).
        public var wallTimeNs: Int64?
        /// The process id the line gave, else 0.
        public var pid: Int32
        /// Its metadata; when empty, the mark's is used.
        public var meta: Metadata

        /// The measure that ends `mark`: the duration is the time between the two.
        ///
        /// - Parameters:
        ///   - mark: the mark this line ends.
        ///   - markReceivedNs: when the service received the mark, on ``EventClock/monotonicNs()``,
        ///     if it did and the mark gave no `time` of its own: with `receivedNs` it
        ///     times the invocation on the monotonic clock.
        ///   - receivedNs: when this line was received (monotonic).
        ///   - receivedWallNs: when this line was received (wall clock).
        ///   - line: the line's number, which errors name.
        /// - Throws: ``PerfLogError/invalidLine(line:field:rule:)`` when the line names
        ///   another stream than the mark's, or ends before the mark started.
        public func measure(
            ending mark: Event, markReceivedNs: UInt64?, receivedNs: UInt64, receivedWallNs: Int64, line: Int
        ) throws(PerfLogError) -> Event {
            do {
                return try measuring(ending: mark, markReceivedNs: markReceivedNs, receivedNs: receivedNs,
                                     receivedWallNs: receivedWallNs, line: line)
            } catch {
                throw error.perfLogError
            }
        }

        /// ``measure(ending:markReceivedNs:receivedNs:receivedWallNs:line:)``, its refusal
        /// as the service replies with it.
        func measuring(
            ending mark: Event, markReceivedNs: UInt64?, receivedNs: UInt64, receivedWallNs: Int64, line: Int
        ) throws(LineProblem) -> Event {
            if let stream, stream != mark.stream {
                throw LineProblem(line: line, field: "agent",
                                  message: "names \(stream), but invocation \(invocation) is a mark of \(mark.stream)")
            }
            let end = wallTimeNs ?? receivedWallNs
            let durationNs: UInt64
            if wallTimeNs == nil, let markReceivedNs {
                durationNs = receivedNs &- markReceivedNs
            } else {
                guard end >= mark.wallTimeNs else {
                    throw LineProblem(line: line, field: "time",
                                      message: "is before the start of invocation \(invocation) (\(Timestamp.iso8601(unixNanoseconds: mark.wallTimeNs, precision: .microseconds)))")
                }
                durationNs = UInt64(end - mark.wallTimeNs)
            }
            return .measure(mark.stream, invocation: invocation, durationNs: durationNs, outcome: outcome,
                            exitCode: exitCode, signal: signal, wallTimeNs: end, pid: pid,
                            meta: meta.isEmpty ? mark.meta : meta)
        }
    }

    /// Parses one line.
    ///
    /// - Parameters:
    ///   - line: the line's bytes, without its line feed (a trailing CR is allowed).
    ///   - number: the line's number on its connection or in its request, from 1; errors
    ///     name it.
    ///   - receivedWallNs: when it was received, in nanoseconds since the Unix epoch:
    ///     the time of an event that gives none.
    ///   - newInvocation: gives the invocation of a measure that has none.
    /// - Returns: the event, or `nil` for a blank line.
    /// - Throws: ``PerfLogError/invalidLine(line:field:rule:)`` with `number`, the field
    ///   at fault (`nil` for the line as a whole) and the rule broken.
    public static func parse(
        line: UnsafeRawBufferPointer, number: Int, receivedWallNs: Int64, newInvocation: () -> InvocationID
    ) throws(PerfLogError) -> IncomingEvent? {
        do {
            return try reading(line: line, number: number, receivedWallNs: receivedWallNs, newInvocation: newInvocation)
        } catch {
            throw error.perfLogError
        }
    }

    /// ``parse(line:number:receivedWallNs:newInvocation:)``, its refusal as the service
    /// replies with it: the line, the field at fault and the rule apart.
    /// With `fastPath` off, every line goes through the general parser (for the tests
    /// that check both agree).
    static func reading(
        line: UnsafeRawBufferPointer, number: Int, receivedWallNs: Int64, newInvocation: () -> InvocationID,
        fastPath: Bool = true
    ) throws(LineProblem) -> IncomingEvent? {
        let b = line.assumingMemoryBound(to: UInt8.self)
        // The shape perflog's clients send, without a JSON tree; the same event as below.
        if fastPath, let event = ClientFastLine.event(b, from: 0, to: b.count) { return .complete(event) }
        let f: EventFields
        do {
            // The checks perflog's NDJSON import makes too: one implementation of them.
            guard let pairs = try ImportedEvents.ndjsonObject(b, from: 0, to: b.count, line: number) else { return nil }
            f = try EventRecordFields.fields(pairs, line: number)
        } catch {
            throw LineProblem(line: number, error)
        }
        func fail(_ field: String, _ rule: String) -> LineProblem { LineProblem(line: number, field: field, message: rule) }
        guard let kind = f.kind else { throw fail("kind", "is missing (\"mark\" or \"measure\")") }
        var stream: StreamName?
        switch (f.agent, f.cli) {
        case let (agent?, cli?): stream = StreamName(unchecked: agent, cli: cli)
        case (nil, nil): stream = nil
        case (nil, _): throw fail("agent", "is missing (cli is given)")
        case (_, nil): throw fail("cli", "is missing (agent is given)")
        }
        let pid = f.pid ?? 0
        let time = f.time ?? receivedWallNs
        switch kind {
        case .mark:
            if f.durationNs != nil { throw fail("durationMs", "only a measure has one (this is a mark)") }
            if f.outcome != nil { throw fail("outcome", "only a measure has one (this is a mark)") }
            guard let stream else { throw fail("agent", "is missing (a mark needs agent and cli)") }
            guard let invocation = f.invocation else {
                throw fail("invocation", "is missing (a mark needs one, for its measure to name)")
            }
            var mark = Event.mark(stream, invocation: invocation, wallTimeNs: time, pid: pid, meta: f.meta)
            mark.exitCode = f.exitCode
            return .complete(mark)
        case .measure:
            guard let outcome = f.outcome else { throw fail("outcome", "is missing (\"ok\" or \"failed\")") }
            if let durationNs = f.durationNs {
                guard let stream else { throw fail("agent", "is missing (a measure with durationMs needs agent and cli)") }
                return .complete(.measure(stream, invocation: f.invocation ?? newInvocation(), durationNs: durationNs,
                                          outcome: outcome, exitCode: f.exitCode, signal: f.signal, wallTimeNs: time,
                                          pid: pid, meta: f.meta))
            }
            guard let invocation = f.invocation else {
                throw fail("durationMs", "is missing (give it, or the invocation of the mark this measure ends)")
            }
            return .ending(Ending(invocation: invocation, stream: stream, outcome: outcome, exitCode: f.exitCode,
                                  signal: f.signal, wallTimeNs: f.time, pid: pid, meta: f.meta))
        }
    }
}
