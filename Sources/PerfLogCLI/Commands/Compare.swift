import ArgumentParser
import PerfLog

extension Perflog {
    /// `perflog compare`: one agent's CLIs (or metadata groups), or one CLI's agents,
    /// ranked by mean duration.
    struct Compare: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Rank one agent's CLIs (or one CLI's agents), fastest first, and say which differences are real.",
            discussion: """
                For each CLI the agent ran on: the number of successful runs in its \
                window, their mean duration, the speed relative to the fastest CLI \
                (1.16× ± 0.04 means 16% slower, give or take 4% for one standard error), \
                and the p-value of Welch's t-test against the fastest: the chance of a \
                difference at least this large if both were equally fast. Below 0.05 the \
                verdict is "significant at 5%"; otherwise "not significant", and the \
                ranking between the two may be luck. Failed runs are left out: a fast \
                crash is not a fast run.

                --agent A --by KEY ranks A's measures grouped by the value of their \
                metadata key KEY (set with --meta KEY=VALUE on record and exec), across \
                all of A's CLIs: which model, say, runs fastest whatever the CLI. \
                Measures without the key form the group "(no KEY)". --cli C (without \
                --agent) ranks the agents that ran on C the same way. Exactly one of \
                --agent and --cli is needed; --by needs --agent.

                --since and --until count only the measures whose end time is in the \
                range, within each window.

                A row needs at least 2 successful runs (and the fastest too) for ± and \
                a p-value; perflog notes which side has too few. Rows without any \
                successful run are listed last. On a terminal the fastest row's verdict \
                is green and significantly slower ones yellow (--color never|auto|always; \
                NO_COLOR turns auto off); under a locale that is not UTF-8 the output \
                is plain ASCII.

                --json prints the agent's comparison object exactly as \
                agent-performance.json lists it under "comparisons" (agent, fastestCli, \
                byCli: cli, meanMs, relative, relativeUncertainty, pValue). With --by it \
                is the same object with "by": KEY after agent, each group's value in \
                cli. With --cli: cli, fastestAgent, byAgent (agent, meanMs, relative, \
                relativeUncertainty, pValue).

                An agent or CLI the log holds nothing of (in the range) exits 65 (a data \
                error: the value names nothing), naming the agents or CLIs it does \
                hold; nothing is printed on standard output. The log is opened \
                read-only; a missing log exits 66.

                Examples:
                  perflog compare --agent planner
                  perflog compare --agent planner --by model --since 7d
                  perflog compare --cli claude
                  perflog compare --agent planner --json | jq -r .fastestCli
                """)

        @Option(help: ArgumentHelp("The agent whose CLIs (or metadata groups, with --by) to compare.", valueName: "name"))
        var agent: String?

        @Option(help: ArgumentHelp("The CLI whose agents to compare (instead of --agent).", valueName: "name"))
        var cli: String?

        @Option(help: ArgumentHelp("Compare the agent's measures grouped by this metadata key.", valueName: "key"))
        var by: String?

        @OptionGroup var time: TimeRangeOptions

        @Flag(help: "Print the comparison object, as in agent-performance.json.")
        var json = false

        @OptionGroup var output: OutputOptions

        @OptionGroup var log: LogOptions

        /// The significance level of the verdict.
        static let alpha = 0.05

        /// What the rows of a comparison are, for its words and JSON keys.
        enum Rows {
            /// One agent's CLIs (`--agent`).
            case clis
            /// One agent's measures by the value of a metadata key (`--agent --by KEY`).
            case groups(key: String)
            /// One CLI's agents (`--cli`).
            case agents

            /// The JSON object's subject.
            var subject: Comparison.Subject {
                switch self {
                case .clis: return .clis
                case .groups(let key): return .metadata(key: key)
                case .agents: return .agents
                }
            }

            /// The heading of the name column.
            var header: String {
                switch self {
                case .clis: return "CLI"
                case .groups(let key): return Terminal.oneLine(key).uppercased()
                case .agents: return "AGENT"
                }
            }

            /// `n` rows in words: `1 CLI`, `3 groups`, `4 agents`.
            func count(_ n: Int) -> String {
                let noun: String
                switch self {
                case .clis: noun = "CLI"
                case .groups: noun = "group"
                case .agents: noun = "agent"
                }
                return "\(n) \(noun)\(n == 1 ? "" : "s")"
            }
        }

        func run() throws {
            switch (agent, cli) {
            case (nil, nil), (.some, .some):
                throw CLIFailure(.usage, "give exactly one of --agent (compare its CLIs) and --cli (compare its agents)")
            default: break
            }
            if by != nil && agent == nil { throw CLIFailure(.usage, "--by needs --agent (the agent whose measures to group)") }
            let field = agent != nil ? "agent" : "cli"
            let name = agent ?? cli ?? ""
            do { try StreamName.validate(name, field: field) } catch { throw CLIFailure(error) }
            if let by {
                do { _ = try Metadata.validated([(by, "")]) } catch {
                    guard case .invalidInput(_, let rule) = error else { throw CLIFailure(error) }
                    throw CLIFailure.invalid("--by", rule)
                }
            }
            let now = EventClock.wallNs()
            let range = try time.range(now: now)
            let rows: Rows = cli != nil ? .agents : by.map { .groups(key: $0) } ?? .clis
            let eventLog = try log.openForReading()
            let (found, known): (Comparison?, [String]) = try readingLog {
                try eventLog.read { r in
                    let comparison: Comparison?
                    switch rows {
                    case .clis:
                        var options = Projector.Options()
                        options.measurements = false
                        options.timeRange = range
                        comparison = try Projector.project(r, filter: StreamFilter(agent: name), now: now, options: options)
                            .comparisons.first
                    case .groups(let key):
                        comparison = try Projector.compare(r, agent: name, byMeta: key, timeRange: range)
                    case .agents:
                        comparison = try Projector.compare(r, agentsOn: name, now: now, timeRange: range)
                    }
                    // Only for the error message, so only when it is needed.
                    let known = comparison == nil
                        ? Array(Set(try r.streams().map { field == "agent" ? $0.stream.agent : $0.stream.cli })).sorted() : []
                    return (comparison, known)
                }
            }
            guard let comparison = found else {
                let inRange = time.isSet ? " in \(time.described)" : ""
                throw CLIFailure(.data, "\(field): the log holds nothing of '\(name)'\(inRange)"
                                 + Self.known(known, what: field == "agent" ? "agents" : "CLIs"))
            }
            if json {
                Terminal.out(comparison.jsonObject(rows.subject) + "\n")
            } else {
                Terminal.out(Self.report(comparison, rows: rows, range: time.described, style: output.style()))
            }
        }

        /// `(agents in the log: a, b, c)`, shortened when there are many.
        static func known(_ names: [String], what: String = "agents") -> String {
            guard !names.isEmpty else { return " (the log holds no streams)" }
            let shown = names.prefix(8).joined(separator: ", ")
            return " (\(what) in the log: \(shown)\(names.count > 8 ? ", … \(names.count - 8) more" : ""))"
        }

        /// The ranking as people read it: a heading, a table and notes.
        /// - Parameters:
        ///   - rows: what the comparison's entries are.
        ///   - range: `--since`/`--until` as typed, for the heading; empty without them.
        static func report(_ c: Comparison, rows: Rows = .clis, range: String = "", style: OutputStyle = .plain) -> String {
            var out = Terminal.oneLine(c.agent)
            if case .groups(let key) = rows { out += " by " + Terminal.oneLine(key) }
            out += ": "
            let ranked = c.byCli.filter { $0.meanNs != nil }
            switch (c.byCli.count, c.fastestCli) {
            case (1, _): out += "\(rows.count(1)), nothing to compare it with"
            case (let n, let fastest?): out += "\(rows.count(n)), fastest \(Terminal.oneLine(fastest))"
            case (let n, nil): out += "\(rows.count(n)), none with a successful run"
            }
            out += " (mean of the successful runs in each window\(range.isEmpty ? "" : ", " + range))\n\n"

            var table = TextTable(headers: ["RANK", rows.header, "OK RUNS", "MEAN", "RELATIVE", "P-VALUE", "VERDICT"],
                                  rightAligned: [0, 2, 3])
            var notes: [String] = []
            let fastestCount = ranked.first?.okCount ?? 0
            let none = TextTable.Cell(style.none, .dim)
            for (i, e) in c.byCli.enumerated() {
                let name = TextTable.Cell(Terminal.oneLine(e.cli))
                guard let mean = e.meanNs else {
                    table.append([none, name, "0", none, none, none, TextTable.Cell("no successful runs", .red)])
                    continue
                }
                var relative = e.relative.map { HumanFormat.fixed($0, digits: 2) + "×" } ?? style.none
                if i > 0, let u = e.relativeUncertainty { relative += " ± " + HumanFormat.fixed(u, digits: 2) }
                let verdict: TextTable.Cell
                if i == 0 {
                    verdict = TextTable.Cell(ranked.count > 1 ? "fastest" : "only one with successful runs", .green)
                } else if let p = e.pValue {
                    verdict = p < alpha ? TextTable.Cell("slower, significant at 5%", .yellow) : "not significant"
                } else if e.okCount < 2 || fastestCount < 2 {
                    verdict = "too few runs to test"
                } else {
                    verdict = "no spread in durations to test"
                }
                table.append([TextTable.Cell("\(i + 1)"), name, TextTable.Cell("\(e.okCount)"),
                              TextTable.Cell(Stats.duration(mean) ?? style.none), TextTable.Cell(relative),
                              e.pValue.map { TextTable.Cell(pValue($0)) } ?? none, verdict])
                if e.okCount < 2 && ranked.count > 1 {
                    notes.append("note: \(name.text) has \(e.okCount) successful run; at least 2 on each side are needed for ± and a p-value")
                }
            }
            out = style.text(out) + table.rendered(style)
            if !notes.isEmpty { out += "\n" + notes.map(style.text).joined(separator: "\n") + "\n" }
            return out
        }

        /// A p-value with four decimals; `< 0.0001` below that.
        static func pValue(_ p: Double) -> String {
            p < 0.0001 ? "< 0.0001" : HumanFormat.fixed(p, digits: 4)
        }
    }
}
