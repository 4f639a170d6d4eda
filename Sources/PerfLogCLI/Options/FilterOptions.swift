import ArgumentParser
import PerfLog

/// `--agent` and `--cli` as a filter: which streams a reading command looks at.
struct FilterOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Only streams of this agent.", valueName: "name"))
    var agent: String?

    @Option(help: ArgumentHelp("Only streams of this CLI.", valueName: "name"))
    var cli: String?

    /// The validated filter.
    /// - Throws: ``CLIFailure`` (exit 65) naming `agent` or `cli` when a name breaks a
    ///   rule, so that a typo is told apart from a name the log does not hold.
    func filter() throws(CLIFailure) -> StreamFilter {
        do {
            if let agent { try StreamName.validate(agent, field: "agent") }
            if let cli { try StreamName.validate(cli, field: "cli") }
        } catch {
            throw CLIFailure(error)
        }
        return StreamFilter(agent: agent, cli: cli)
    }

    /// The one stream named when both `--agent` and `--cli` are given.
    var stream: StreamName? {
        guard let agent, let cli else { return nil }
        return try? StreamName(agent: agent, cli: cli)
    }

    /// `--agent A --cli C` as typed, for messages; empty without a filter.
    var described: String {
        var parts: [String] = []
        if let agent { parts.append("--agent \(agent)") }
        if let cli { parts.append("--cli \(cli)") }
        return parts.joined(separator: " ")
    }
}

/// Runs a read of the log, mapping its errors to exit statuses.
func readingLog<T>(_ body: () throws -> T) throws(CLIFailure) -> T {
    do { return try body() } catch { throw CLIFailure.from(error) }
}
