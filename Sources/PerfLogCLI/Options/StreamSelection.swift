import ArgumentParser
import PerfLog

/// `--agent A [--cli C]` of the commands that change streams (`forget`, `rename`): the
/// streams they act on, and the error for a selection the log holds nothing of.
struct StreamSelection: ParsableArguments {
    /// The value of `--agent`. Unconditional, as in ``StreamOptions``: a name may begin
    /// with a dash.
    @Option(
        name: .customLong(OptionName.agent.rawValue), parsing: .unconditional,
        help: ArgumentHelp("The agent whose streams to act on.", valueName: "name"))
    var agent: String

    /// The value of `--cli`, when given.
    @Option(
        name: .customLong(OptionName.cli.rawValue), parsing: .unconditional,
        help: ArgumentHelp("Only the agent's stream on this CLI.", valueName: "name"))
    var cli: String?

    /// The streams selected.
    var filter: StreamFilter { StreamFilter(agent: agent, cli: cli) }

    /// `A` or `A/C`, for messages.
    var described: String {
        cli.map { HumanFormat.stream(StreamName(unchecked: agent, cli: $0)) } ?? HumanFormat.name(agent)
    }

    /// Checks both names against the rules for stream names. Not ArgumentParser's
    /// `validate()`, which would wrap the failure in a usage error (64, not 65).
    /// - Throws: ``CLIFailure`` (exit 65) naming `agent` or `cli` and the rule.
    func validateNames() throws(CLIFailure) {
        do {
            try StreamName.validate(agent, field: OptionName.agent.rawValue)
            if let cli { try StreamName.validate(cli, field: OptionName.cli.rawValue) }
        } catch {
            throw CLIFailure(error)
        }
    }

    /// The summaries of the selected streams, read from `eventLog`.
    /// - Throws: ``CLIFailure``: 65 when there are none, naming what the log does hold
    ///   (the agent's CLIs when it has streams, else the agents, as `compare` does); the
    ///   failure to read the log.
    func streams(in eventLog: EventLog) throws(CLIFailure) -> [StreamSummary] {
        // Read first, judged after: an error thrown inside a read would arrive as the
        // log's own failure.
        let (found, all) = try readingLog {
            try eventLog.read { r in
                let found = try r.streams(filter)
                return (found, found.isEmpty ? try r.streams() : [])
            }
        }
        if !found.isEmpty { return found }
        let clis = all.filter { $0.stream.agent == agent }.map { HumanFormat.name($0.stream.cli) }
        if let cli, !clis.isEmpty {
            throw CLIFailure(.data, "cli: the log holds nothing of \(HumanFormat.name(agent)) on \(HumanFormat.name(cli))"
                             + Perflog.Compare.known(clis, what: "CLIs of \(HumanFormat.name(agent))"))
        }
        let names = Array(Set(all.map { HumanFormat.name($0.stream.agent) })).sorted()
        throw CLIFailure(.data, "agent: the log holds nothing of \(HumanFormat.name(agent))" + Perflog.Compare.known(names))
    }
}
