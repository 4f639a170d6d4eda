import ArgumentParser
import PerfLog

extension Perflog {
    /// `perflog rename`: gives an agent's streams (or one stream) another name, merging
    /// into streams that already have it.
    struct Rename: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Rename an agent (or one of its streams), merging into streams that already have the new name.",
            discussion: """
                Renames every stream of --agent to the agent --to (with --cli, only that \
                stream; with --to-cli, the CLI too). A stream whose new name is free keeps \
                everything and only changes its name. One whose new name is taken is \
                merged into that stream.

                A merge keeps the newest measures of the two windows together (as many \
                as the log's ring size), newest by their time, then by commit order, and \
                deletes the others. Events keep their place (their seq) in the timeline, \
                so tail and export show them where they were; the ring keeps them in \
                commit order, as every ring, so the next measure recorded evicts the one \
                committed first (for events recorded as they happened, the oldest). Marks \
                in flight move along. The lifetime counters (ok, failed, the sum of ok \
                durations, each histogram bucket) add up and count from the earlier of \
                the two starts.

                It is one commit: a crash or a full disk leaves the log as it was. A \
                recorder that goes on recording under the old name makes that stream anew.

                For each stream it prints
                  planner/claude → Planner/claude
                  planner/codex → Planner/codex (merged: kept the newest 100 of 130 measures)
                or, with --json, one object: {"renamed": [{fromAgent, fromCli, toAgent, \
                toCli, merged, measures, kept, marksMoved}]}. Names that begin or end with \
                a space are shown quoted.

                A compaction running meanwhile is waited for, up to --wait.

                Exit status: 0 renamed; 64 the new name is the old one; 65 an invalid \
                name, or the log holds nothing of the agent (or stream), naming what it \
                does hold; 66 there is no log; 74 the log is damaged or cannot be written; \
                75 the log stayed busy past --wait.

                Examples:
                  perflog rename --agent ' planner ' --to planner
                  perflog rename --agent planner --cli Claude --to planner --to-cli claude
                  perflog rename --agent reviewer --to critic --json | jq '.renamed[].kept'
                """)

        @OptionGroup var selection: StreamSelection

        @Option(name: .customLong("to"), parsing: .unconditional, help: ArgumentHelp("The new agent name.", valueName: "name"))
        var toAgent: String

        @Option(name: .customLong("to-cli"), parsing: .unconditional, help: ArgumentHelp("A new CLI name too.", valueName: "name"))
        var toCLI: String?

        @Flag(help: "Print one JSON object: what was renamed and merged.")
        var json = false

        @OptionGroup var log: LogOptions

        func run() throws {
            try selection.validateNames()
            do {
                try StreamName.validate(toAgent, field: "to")
                if let toCLI { try StreamName.validate(toCLI, field: "to-cli") }
            } catch {
                throw CLIFailure(error)
            }
            if toAgent == selection.agent && (toCLI == nil || toCLI == selection.cli) {
                throw CLIFailure(.usage, "--to names \(selection.described) again; give another name (and --to-cli to rename the CLI)")
            }
            let eventLog = try log.openExistingForWriting()
            _ = try selection.streams(in: eventLog)
            let renamed = try readingLog { try eventLog.renameStreams(selection.filter, toAgent: toAgent, cli: toCLI) }
            if renamed.isEmpty {
                // Every stream selected already has its new name (--to-cli without --cli
                // on an agent with that CLI only), or they went meanwhile.
                _ = try selection.streams(in: eventLog)
                throw CLIFailure(.usage, "nothing to rename: the streams of \(selection.described) already have the names asked for")
            }
            Terminal.out(json ? Self.jsonObject(renamed) : Self.text(renamed))
        }

        /// One line a stream: `a/c → b/c`, with what a merge kept.
        static func text(_ renamed: [RenamedStream]) -> String {
            renamed.map { r in
                var line = "\(HumanFormat.stream(r.from)) → \(HumanFormat.stream(r.to))"
                if r.merged { line += " (merged: kept the newest \(r.kept) of \(r.measures) measure\(r.measures == 1 ? "" : "s"))" }
                if r.marksMoved > 0 { line += ", \(r.marksMoved) in flight" }
                return line + "\n"
            }.joined()
        }

        /// `{"renamed":[{"fromAgent":…,"fromCli":…,"toAgent":…,"toCli":…,"merged":…,"measures":…,"kept":…,"marksMoved":…}]}`.
        static func jsonObject(_ renamed: [RenamedStream]) -> String {
            let items = renamed.map { r in
                "{\"fromAgent\":\(JSONBuffer.quoted(r.from.agent)),\"fromCli\":\(JSONBuffer.quoted(r.from.cli)),"
                    + "\"toAgent\":\(JSONBuffer.quoted(r.to.agent)),\"toCli\":\(JSONBuffer.quoted(r.to.cli)),"
                    + "\"merged\":\(r.merged),\"measures\":\(r.measures),\"kept\":\(r.kept),\"marksMoved\":\(r.marksMoved)}"
            }
            return "{\"renamed\":[" + items.joined(separator: ",") + "]}\n"
        }
    }
}
