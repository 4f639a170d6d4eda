import ArgumentParser
import PerfLog

extension Perflog {
    /// `perflog compare`: one agent's CLIs ranked by mean duration.
    struct Compare: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Rank one agent's CLIs, fastest first, and say which differences are real.",
            discussion: """
                For each CLI the agent ran on: the number of successful runs in its \
                window, their mean duration, the speed relative to the fastest CLI \
                (1.16× ± 0.04 means 16% slower, give or take 4% for one standard error), \
                and the p-value of Welch's t-test against the fastest: the chance of a \
                difference at least this large if both were equally fast. Below 0.05 the \
                verdict is "significant at 5%"; otherwise "not significant", and the \
                ranking between the two may be luck. Failed runs are left out: a fast \
                crash is not a fast run.

                A CLI needs at least 2 successful runs (and the fastest too) for ± and a \
                p-value; perflog notes which side has too few. CLIs without any \
                successful run are listed last.

                --json prints the agent's comparison object exactly as \
                agent-performance.json lists it under "comparisons" (agent, fastestCli, \
                byCli: cli, meanMs, relative, relativeUncertainty, pValue).

                An agent the log holds nothing of exits 65 (a data error: the value names \
                nothing), naming the agents it does hold; nothing is printed on standard \
                output. The log is opened read-only; a missing log exits 66.

                Examples:
                  perflog compare --agent planner
                  perflog compare --agent planner --json | jq -r .fastestCli
                """)

        @Option(help: ArgumentHelp("The agent whose CLIs to compare.", valueName: "name"))
        var agent: String

        @Flag(help: "Print the comparison object, as in agent-performance.json.")
        var json = false

        @OptionGroup var log: LogOptions

        /// The significance level of the verdict.
        static let alpha = 0.05

        func run() throws {
            do { try StreamName.validate(agent, field: "agent") } catch { throw CLIFailure(error) }
            let eventLog = try log.openForReading()
            var options = Projector.Options()
            options.measurements = false
            let (projection, agents): (Projection, [String]) = try readingLog {
                try eventLog.read { r in
                    let p = try Projector.project(r, filter: StreamFilter(agent: agent), now: EventClock.wallNs(), options: options)
                    // Only for the error message, so only when it is needed.
                    let agents = p.comparisons.isEmpty ? Array(Set(try r.streams().map(\.stream.agent))).sorted() : []
                    return (p, agents)
                }
            }
            guard let comparison = projection.comparisons.first else {
                throw CLIFailure(.data, "agent: the log holds nothing of '\(agent)'" + Self.known(agents))
            }
            if json {
                Terminal.out(comparison.jsonObject + "\n")
            } else {
                Terminal.out(Self.report(comparison))
            }
        }

        /// `(agents in the log: a, b, c)`, shortened when there are many.
        static func known(_ agents: [String]) -> String {
            guard !agents.isEmpty else { return " (the log holds no streams)" }
            let shown = agents.prefix(8).joined(separator: ", ")
            return " (agents in the log: \(shown)\(agents.count > 8 ? ", … \(agents.count - 8) more" : ""))"
        }

        /// The ranking as people read it: a heading, a table and notes.
        static func report(_ c: Comparison) -> String {
            var out = Terminal.oneLine(c.agent) + ": "
            let ranked = c.byCli.filter { $0.meanNs != nil }
            switch (c.byCli.count, c.fastestCli) {
            case (1, _): out += "1 CLI, nothing to compare it with"
            case (let n, let fastest?): out += "\(n) CLIs, fastest \(Terminal.oneLine(fastest))"
            case (let n, nil): out += "\(n) CLIs, none with a successful run"
            }
            out += " (mean of the successful runs in each window)\n\n"

            var table = TextTable(headers: ["RANK", "CLI", "OK RUNS", "MEAN", "RELATIVE", "P-VALUE", "VERDICT"],
                                  rightAligned: [0, 2, 3])
            var notes: [String] = []
            let fastestCount = ranked.first?.okCount ?? 0
            for (i, e) in c.byCli.enumerated() {
                let name = Terminal.oneLine(e.cli)
                guard let mean = e.meanNs else {
                    table.append(["–", name, "0", "–", "–", "–", "no successful runs"])
                    continue
                }
                var relative = e.relative.map { HumanFormat.fixed($0, digits: 2) + "×" } ?? "–"
                if i > 0, let u = e.relativeUncertainty { relative += " ± " + HumanFormat.fixed(u, digits: 2) }
                let verdict: String
                if i == 0 {
                    verdict = ranked.count > 1 ? "fastest" : "only one with successful runs"
                } else if let p = e.pValue {
                    verdict = p < alpha ? "slower, significant at 5%" : "not significant"
                } else if e.okCount < 2 || fastestCount < 2 {
                    verdict = "too few runs to test"
                } else {
                    verdict = "no spread in durations to test"
                }
                table.append(["\(i + 1)", name, "\(e.okCount)", Stats.duration(mean), relative, e.pValue.map(pValue) ?? "–", verdict])
                if e.okCount < 2 && ranked.count > 1 {
                    notes.append("note: \(name) has \(e.okCount) successful run; at least 2 on each side are needed for ± and a p-value")
                }
            }
            out += table.rendered
            if !notes.isEmpty { out += "\n" + notes.joined(separator: "\n") + "\n" }
            return out
        }

        /// A p-value with four decimals; `< 0.0001` below that.
        static func pValue(_ p: Double) -> String {
            p < 0.0001 ? "< 0.0001" : HumanFormat.fixed(p, digits: 4)
        }
    }
}
