import PerfLog

/// Why one line (or a whole request) was not recorded: sent back to the client.
public struct LineProblem: Error, Sendable, Hashable {
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

    /// The problem of `line` that an error of perflog's NDJSON checks describes: its
    /// field and rule. Any other error is the line's as a whole.
    init(line: Int, _ error: PerfLogError) {
        self.line = line
        if case .invalidLine(_, let field, let rule) = error {
            self.field = field
            message = rule
        } else {
            field = nil
            message = "\(error)"
        }
    }

    /// The problem as ``IncomingEvent/parse(line:number:receivedWallNs:newInvocation:)``
    /// reports it.
    var perfLogError: PerfLogError {
        .invalidLine(line: line, field: field, rule: message)
    }
}
