import NIOCore
import NIOPosix
import PerfLog

/// A measure without a duration whose mark this service did not receive (or has
/// forgotten): its mark is looked up among the log's open marks.
struct UnpairedEnding: Sendable {
    var ending: IncomingEvent.Ending
    var line: Int
    var receivedWallNs: Int64
    var receivedNs: UInt64
}

/// The lines of one read (or one request), turned into events to record and problems
/// to report.
struct LineBatch: Sendable {
    /// The events to record, in line order.
    var events: [Event] = []
    /// The line number of each event.
    var eventLines: [Int] = []
    /// The lines that broke a rule, in line order.
    var problems: [LineProblem] = []
    /// The measures waiting for their mark to be looked up in the log, in line order.
    var unpaired: [UnpairedEnding] = []

    var isEmpty: Bool { events.isEmpty && problems.isEmpty && unpaired.isEmpty }

    /// Lines that made an event or a problem (blank ones make neither).
    var received: Int { events.count + problems.count + unpaired.count }

    /// Puts the looked-up measures (or their problems) in place, in line order.
    mutating func pair(_ found: [Result<Event, LineProblem>]) {
        var events: [Event] = [], lines: [Int] = []
        events.reserveCapacity(self.events.count + found.count)
        lines.reserveCapacity(events.capacity)
        var next = 0
        for (u, result) in zip(unpaired, found) {
            while next < eventLines.count && eventLines[next] < u.line {
                events.append(self.events[next])
                lines.append(eventLines[next])
                next += 1
            }
            switch result {
            case .success(let e):
                events.append(e)
                lines.append(u.line)
            case .failure(let p):
                problems.append(p)
            }
        }
        events.append(contentsOf: self.events[next...])
        lines.append(contentsOf: eventLines[next...])
        self.events = events
        eventLines = lines
        problems.sort { $0.line < $1.line }
        unpaired = []
    }
}

/// Turns lines into events for a service: parses each (``IncomingEvent``), pairs a
/// measure without a duration with its mark, and checks the line length.
///
/// A mark this service received is paired in memory (``OpenMarks``); any other is
/// looked up in the log, which can take as long as another process holds it (a
/// compaction, say): so that no event loop waits for it, the lookups run on a thread
/// pool of their own (``resolve(_:on:)``).
struct Intake: Sendable {
    let marks: OpenMarks
    let log: EventLog
    let maxLineBytes: Int
    /// Runs the lookups of open marks in the log.
    let lookups: NIOThreadPool
    /// How a PerfLogError reads in replies.
    let describe: @Sendable (PerfLogError) -> String

    /// Parses one complete line (without its line feed) into `batch`.
    func take(
        _ line: UnsafeRawBufferPointer, number: Int, wallNs: Int64, monoNs: UInt64,
        ids: inout SplitMix64, into batch: inout LineBatch
    ) {
        guard line.count <= maxLineBytes else {
            batch.problems.append(LineReplies.tooLong(line: number, limit: maxLineBytes))
            return
        }
        do {
            guard let incoming = try IncomingEvent.reading(
                line: line, number: number, receivedWallNs: wallNs,
                newInvocation: { InvocationID(rawValue: ids.next()) }) else { return }
            switch incoming {
            case .complete(let e):
                if e.kind == .mark {
                    marks.insert(e, receivedNs: e.wallTimeNs == wallNs ? monoNs : nil)
                } else {
                    marks.remove(e.invocation)
                }
                batch.events.append(e)
                batch.eventLines.append(number)
            case .ending(let ending):
                guard let (mark, receivedNs) = marks.take(ending.invocation) else {
                    batch.unpaired.append(UnpairedEnding(ending: ending, line: number, receivedWallNs: wallNs, receivedNs: monoNs))
                    return
                }
                batch.events.append(try ending.measuring(ending: mark, markReceivedNs: receivedNs, receivedNs: monoNs,
                                                         receivedWallNs: wallNs, line: number))
                batch.eventLines.append(number)
            }
        } catch {
            batch.problems.append(error)
        }
    }

    /// `batch` with its unpaired measures paired through the log's open marks, on
    /// `loop`; at once when it has none.
    func resolve(_ batch: LineBatch, on loop: any EventLoop) -> EventLoopFuture<LineBatch> {
        guard !batch.unpaired.isEmpty else { return loop.makeSucceededFuture(batch) }
        let unpaired = batch.unpaired
        let log = log, describe = describe
        return lookups.runIfActive(eventLoop: loop) { Intake.lookUp(unpaired, in: log, describe: describe) }
            .recover { error in
                // The pool is stopped: the service is past its drain.
                unpaired.map {
                    .failure(LineReplies.notStored(line: $0.line, .busy(path: log.path, reason: "the service is stopping"), describe))
                }
            }
            .map { found in
                var batch = batch
                batch.pair(found)
                return batch
            }
    }

    /// The measure each of `unpaired` makes of its mark in the log (in one read), or why
    /// it makes none (a failure to read worded by `describe`).
    static func lookUp(
        _ unpaired: [UnpairedEnding], in log: EventLog, describe: (PerfLogError) -> String
    ) -> [Result<Event, LineProblem>] {
        let marks: [Event?]
        var measured: [Int: Event] = [:]
        do {
            marks = try log.read { reader in try unpaired.map { try reader.openMark($0.ending.invocation) } }
            // An ending sent again after its measure was stored (a client's retry): the
            // stored measure stands, and the recorder acknowledges it without storing it twice.
            for (i, u) in unpaired.enumerated() where marks[i] == nil {
                guard let stream = u.ending.stream else { continue }
                let ring = try log.read { reader in try reader.ring(stream) }
                if let e = ring.last(where: { $0.invocation == u.ending.invocation }) { measured[i] = e }
            }
        } catch {
            return unpaired.map { .failure(LineProblem(line: $0.line, field: nil, message: describe(error))) }
        }
        return zip(unpaired, marks).enumerated().map { i, pair in
            let (u, stored) = pair
            if let e = measured[i] { return .success(e) }
            guard let stored else {
                return .failure(LineProblem(line: u.line, field: "invocation",
                                            message: "names no invocation in flight (send its mark first, or give durationMs)"))
            }
            do throws(LineProblem) {
                return .success(try u.ending.measuring(ending: stored, markReceivedNs: nil, receivedNs: u.receivedNs,
                                                       receivedWallNs: u.receivedWallNs, line: u.line))
            } catch {
                return .failure(error)
            }
        }
    }
}
