import NIOCore
import PerfLog

/// The replies of the socket protocol, one JSON object a line:
/// `{"line":N,"field":"…","error":"…"}` for a line that broke a rule (no `field` for a
/// whole line), `{"ack":N}` once every line up to N is handled.
enum LineReplies {
    /// Appends the error reply of `problem`, with its line feed.
    static func problem(_ problem: LineProblem, into out: inout [UInt8]) {
        var s = "{\"line\":\(problem.line)"
        if let field = problem.field { s += ",\"field\":" + JSONBuffer.quoted(field) }
        s += ",\"error\":" + JSONBuffer.quoted(problem.message) + "}\n"
        out.append(contentsOf: s.utf8)
    }

    /// Appends `{"ack":N}` and its line feed.
    static func ack(_ line: Int, into out: inout [UInt8]) {
        out.append(contentsOf: "{\"ack\":\(line)}\n".utf8)
    }

    /// One refusal to a connection past ``ServiceLimits/maxConnections``, before it is closed.
    static func tooManyConnections(limit: Int) -> String {
        "{\"error\":\"too many connections (the limit is \(limit)); try again later\"}\n"
    }

    /// The problem of a last line cut off by the end of the connection's input; `nil`
    /// when the bytes are blank (spaces, tabs, a carriage return), which are no line.
    static func cutOff(_ bytes: ByteBufferView, line: Int) -> LineProblem? {
        guard bytes.contains(where: { !($0 == 0x20 || $0 == 0x09 || $0 == 0x0D) }) else { return nil }
        return LineProblem(line: line, field: nil, message: "ends without a line feed (the connection closed mid-line); not recorded")
    }

    /// The problem of a line still without its line feed `timeout` after its first byte.
    static func timedOut(line: Int, after timeout: Duration) -> LineProblem {
        LineProblem(line: line, field: nil,
                    message: "no line feed within \(timeout.components.seconds) s of the line's first byte; the connection is closed")
    }

    /// The problem of a line longer than `limit` bytes.
    static func tooLong(line: Int, limit: Int) -> LineProblem {
        LineProblem(line: line, field: nil, message: "is longer than \(limit) bytes")
    }

    /// The reply to a line whose commit failed (`error` worded by `describe`): the log
    /// being held is worth resending.
    static func notStored(line: Int, _ error: PerfLogError, _ describe: (PerfLogError) -> String) -> LineProblem {
        if case .busy(_, let reason) = error { return LineProblem(line: line, field: nil, message: "not stored: \(reason); resend") }
        return LineProblem(line: line, field: nil, message: "not stored: \(describe(error))")
    }
}
