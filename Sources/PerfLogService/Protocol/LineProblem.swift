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

    /// The problem an error of perflog's NDJSON checks describes, which were given
    /// `location` (`line N`) to name: they name the field `location` for the whole line
    /// and `location: field` for one field. Any other error is the line's as a whole.
    init(line: Int, located error: PerfLogError, at location: String) {
        self.line = line
        guard case .invalidInput(let field, let rule) = error else {
            self.field = nil
            message = "\(error)"
            return
        }
        message = rule
        let prefix = location + ": "
        if field == location {
            self.field = nil
        } else if field.hasPrefix(prefix) {
            self.field = String(field.dropFirst(prefix.count))
        } else {
            self.field = field
        }
    }

    /// The problem as ``IncomingEvent/parse(line:number:receivedWallNs:newInvocation:)``
    /// reports it: the field reads `line N` or `line N: field`.
    var perfLogError: PerfLogError {
        .invalidInput(field: field.map { "line \(line): \($0)" } ?? "line \(line)", rule: message)
    }
}
