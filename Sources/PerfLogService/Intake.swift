import PerfLog

/// Why one line (or a whole request) was not recorded: sent back to the client.
public struct LineProblem: Sendable, Hashable {
    /// The line's number on its connection or in its request, from 1.
    public var line: Int
    /// The field at fault, or `nil` when the line as a whole is (not JSON, too long).
    public var field: String?
    /// The rule it breaks.
    public var message: String

    /// A problem with `line`.
    public init(line: Int, field: String?, message: String) {
        self.line = line
        self.field = field
        self.message = message
    }

    /// The problem a parse error describes: its field reads `line N` or `line N: field`.
    init(line: Int, _ error: PerfLogError) {
        self.line = line
        guard case .invalidInput(let field, let rule) = error else {
            self.field = nil
            message = "\(error)"
            return
        }
        let prefix = "line \(line)"
        if field == prefix {
            self.field = nil
        } else if field.hasPrefix(prefix + ": ") {
            self.field = String(field.dropFirst(prefix.count + 2))
        } else {
            self.field = field
        }
        message = rule
    }

    /// The reply line: `{"line":N,"field":"…","error":"…"}` (no `field` for a whole line).
    func reply(into out: inout [UInt8]) {
        var s = "{\"line\":\(line)"
        if let field { s += ",\"field\":" + JSONText.quoted(field) }
        s += ",\"error\":" + JSONText.quoted(message) + "}\n"
        out.append(contentsOf: s.utf8)
    }
}

/// The lines of one read (or one request), turned into events to record and problems
/// to report.
struct LineBatch {
    /// The events to record, in line order.
    var events: [Event] = []
    /// The line number of each event.
    var eventLines: [Int] = []
    /// The lines that broke a rule, in line order.
    var problems: [LineProblem] = []

    var isEmpty: Bool { events.isEmpty && problems.isEmpty }
}

/// Turns lines into events for a service: parses each (``IncomingEvent``), pairs a
/// measure without a duration with its mark, and checks the line length.
struct Intake: Sendable {
    let marks: OpenMarks
    let log: EventLog
    let maxLineBytes: Int

    /// Parses one complete line (without its line feed) into `batch`.
    func take(
        _ line: UnsafeRawBufferPointer, number: Int, wallNs: Int64, monoNs: UInt64,
        ids: inout SplitMix64, into batch: inout LineBatch
    ) {
        guard line.count <= maxLineBytes else {
            batch.problems.append(LineProblem(line: number, field: nil, message: "is longer than \(maxLineBytes) bytes"))
            return
        }
        do {
            guard let incoming = try IncomingEvent.parse(
                line: line, number: number, receivedWallNs: wallNs,
                newInvocation: { InvocationID(rawValue: ids.next()) }) else { return }
            let event: Event
            switch incoming {
            case .complete(let e):
                event = e
                if e.kind == .mark {
                    marks.insert(e, receivedNs: e.wallTimeNs == wallNs ? monoNs : nil)
                } else {
                    marks.remove(e.invocation)
                }
            case .ending(let ending):
                event = try end(ending, number: number, wallNs: wallNs, monoNs: monoNs)
            }
            batch.events.append(event)
            batch.eventLines.append(number)
        } catch {
            batch.problems.append(LineProblem(line: number, error))
        }
    }

    /// The measure that `ending` makes of its mark: one this service received, else one
    /// already in the log.
    private func end(_ ending: IncomingEvent.Ending, number: Int, wallNs: Int64, monoNs: UInt64) throws(PerfLogError) -> Event {
        if let (mark, receivedNs) = marks.take(ending.invocation) {
            return try ending.measure(ending: mark, markReceivedNs: receivedNs, receivedNs: monoNs,
                                      receivedWallNs: wallNs, line: number)
        }
        let stored: Event?
        do { stored = try log.read { try $0.openMark(ending.invocation) } } catch {
            throw (error as? PerfLogError) ?? .corrupt(what: "\(error)")
        }
        guard let stored else {
            throw .invalidInput(field: "line \(number): invocation",
                                rule: "names no invocation in flight (send its mark first, or give durationMs)")
        }
        return try ending.measure(ending: stored, markReceivedNs: nil, receivedNs: monoNs, receivedWallNs: wallNs, line: number)
    }
}
