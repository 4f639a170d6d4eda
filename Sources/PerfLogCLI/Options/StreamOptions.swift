import ArgumentParser
import PerfLog

/// `--agent`, `--cli` and `--meta`: what a recorded invocation belongs to.
struct StreamOptions: ParsableArguments {
    // Unconditional: a name may begin with a dash, and a wrong value should get a
    // message about the value, not about a missing one.
    @Option(
        name: .customLong(OptionName.agent.rawValue), parsing: .unconditional,
        help: ArgumentHelp("The agent's name, e.g. planner.", valueName: "name"))
    var agent: String

    @Option(
        name: .customLong(OptionName.cli.rawValue), parsing: .unconditional,
        help: ArgumentHelp("The CLI's name, e.g. claude.", valueName: "name"))
    var cli: String

    @Option(
        name: .customLong(OptionName.meta.rawValue),
        parsing: .unconditionalSingleValue,
        help: ArgumentHelp(
            "Metadata to attach, as KEY=VALUE; repeat for several.",
            discussion: "At most \(Metadata.maxEntries) entries, keys up to \(Metadata.maxKeyBytes) bytes, values up to \(Metadata.maxValueBytes) bytes, no control characters.",
            valueName: "key=value"))
    var meta: [String] = []

    /// The parsed values, for code that also runs without ArgumentParser.
    var values: StreamArguments { StreamArguments(agent: agent, cli: cli, meta: meta) }
}

/// The values of `--agent`, `--cli` and `--meta`, as typed.
struct StreamArguments: Equatable {
    var agent: String
    var cli: String
    var meta: [String] = []

    /// The validated stream name.
    /// - Throws: ``CLIFailure`` (exit 65) naming `agent` or `cli` and the rule broken.
    func stream() throws(CLIFailure) -> StreamName {
        do { return try StreamName(agent: agent, cli: cli) } catch { throw CLIFailure(error) }
    }

    /// The validated metadata.
    /// - Throws: ``CLIFailure`` (exit 65) when an entry is not KEY=VALUE, repeats a
    ///   key, or breaks a metadata rule.
    func metadata() throws(CLIFailure) -> Metadata {
        var pairs: [(String, String)] = []
        for entry in meta {
            guard let eq = entry.firstIndex(of: "=") else {
                throw .invalid("meta", "must be KEY=VALUE (got '\(entry)')")
            }
            let key = String(entry[..<eq])
            // Keeping the last (or first) silently would record what was not meant.
            if pairs.contains(where: { $0.0 == key }) {
                throw .invalid("meta", "the key '\(key)' is given more than once; give each key once")
            }
            pairs.append((key, String(entry[entry.index(after: eq)...])))
        }
        do { return try Metadata.validated(pairs) } catch { throw CLIFailure(error) }
    }
}
