import Foundation
import PerfLogTestSupport
import Testing

@Suite("compare --by KEY and compare --cli: other groupings, ranked the same way")
struct CompareGroupsTests {
    /// One NDJSON measure line with `meta` (the NDJSON keys' order: meta last).
    static func measure(_ agent: String, _ cli: String, ms: Double, at second: Int, meta: [String: String] = [:],
                        ok: Bool = true) -> String {
        var line = Synthetic.measure(agent, cli, ms: String(ms), at: second, ok: ok, invocation: second)
        guard !meta.isEmpty else { return line }
        let fields = meta.sorted { $0.key < $1.key }.map { "\(Synthetic.quoted($0.key)):\(Synthetic.quoted($0.value))" }
        line.removeLast()
        return line + ",\"meta\":{" + fields.joined(separator: ",") + "}}"
    }

    /// planner on claude and codex: model=opus runs of 90/110 ms (mean 100) on both CLIs,
    /// model=o3 runs of 190/210 ms (mean 200) on codex, runs without a model that all
    /// failed, and one model=haiku run. On claude, agents coder (mean 50 ms) and
    /// reviewer (mean 150 ms) beside planner (mean 100 ms: its opus runs).
    static func log(in dir: TemporaryDirectory) throws -> String {
        let log = dir.file("log")
        var lines: [String] = []
        var t = 0
        func add(_ agent: String, _ cli: String, _ durations: [Double], meta: [String: String] = [:], ok: Bool = true) {
            for d in durations {
                t += 1
                lines.append(measure(agent, cli, ms: d, at: t, meta: meta, ok: ok))
            }
        }
        let spread = { (mean: Double, n: Int) in (0..<n).map { $0 % 2 == 0 ? mean - 10 : mean + 10 } }
        add("planner", "claude", spread(100, 10), meta: ["model": "opus", "effort": "high"])
        add("planner", "codex", spread(100, 10), meta: ["model": "opus"])
        add("planner", "codex", spread(200, 20), meta: ["model": "o3"])
        add("planner", "codex", [5, 6], ok: false)
        add("planner", "claude", [400], meta: ["model": "haiku"])
        add("coder", "claude", spread(50, 10))
        add("reviewer", "claude", spread(150, 10))
        add("reviewer", "gemini", [1])
        try Synthetic.load(lines, into: log, scratch: dir)
        return log
    }

    @Test func byMetadataGroupsTheAgentsMeasuresAcrossItsCLIs() throws {
        let dir = try TemporaryDirectory()
        let log = try Self.log(in: dir)
        let r = try CLI.run(["compare", "--agent", "planner", "--by", "model", "--json", "--log", log])
        #expect(r.status == 0, "\(r)")
        let line = r.stdout.trimmingCharacters(in: .newlines)
        #expect(keyOrder(line) == ["agent", "by", "fastestCli", "byCli"], "\(line)")
        let object = decodeObject(line)
        #expect(object["agent"] as? String == "planner")
        #expect(object["by"] as? String == "model")
        #expect(object["fastestCli"] as? String == "opus")
        let groups = try #require(object["byCli"] as? [[String: Any]])
        #expect(groups.compactMap { $0["cli"] as? String } == ["opus", "o3", "haiku", "(no model)"])
        #expect(groups[0]["meanMs"] as? Double == 100, "claude's and codex's opus runs together")
        #expect(groups[0]["relative"] as? Double == 1)
        #expect(groups[1]["meanMs"] as? Double == 200)
        #expect(groups[1]["relative"] as? Double == 2)
        #expect(try #require(groups[1]["pValue"] as? Double) < 0.001)
        #expect(try #require(groups[1]["relativeUncertainty"] as? Double) > 0)
        #expect(groups[2]["relative"] as? Double == 4)
        #expect(groups[2]["pValue"] is NSNull, "one run cannot be tested")
        #expect(groups[3]["meanMs"] is NSNull, "the runs without a model all failed")

        let text = try CLI.run(["compare", "--agent", "planner", "--by", "model", "--log", log])
        #expect(text.status == 0, "\(text)")
        let lines = text.stdoutLines
        #expect(lines.first == "planner by model: 4 groups, fastest opus (mean of the successful runs in each window)")
        #expect(lines.dropFirst().first?.split(separator: " ").prefix(2) == ["RANK", "MODEL"], "\(text)")
        func row(_ label: String) -> String? { lines.first { $0.contains("  \(label)  ") } }
        #expect(row("opus")?.hasSuffix("fastest") == true, "\(text)")
        #expect(row("o3")?.contains("2.00× ± ") == true && row("o3")?.hasSuffix("slower, significant at 5%") == true, "\(text)")
        #expect(row("(no model)")?.hasSuffix("no successful runs") == true, "\(text)")

        // Another key groups the same measures differently.
        let effort = try CLI.run(["compare", "--agent", "planner", "--by", "effort", "--json", "--log", log])
        let byEffort = try #require(decodeObject(effort.stdout.trimmingCharacters(in: .newlines))["byCli"] as? [[String: Any]])
        #expect(byEffort.compactMap { $0["cli"] as? String } == ["high", "(no effort)"])
        #expect(byEffort[0]["meanMs"] as? Double == 100)
    }

    @Test func cliRanksTheAgentsThatRanOnIt() throws {
        let dir = try TemporaryDirectory()
        let log = try Self.log(in: dir)
        let r = try CLI.run(["compare", "--cli", "claude", "--json", "--log", log])
        #expect(r.status == 0, "\(r)")
        let line = r.stdout.trimmingCharacters(in: .newlines)
        #expect(keyOrder(line) == ["cli", "fastestAgent", "byAgent"], "\(line)")
        let object = decodeObject(line)
        #expect(object["cli"] as? String == "claude")
        #expect(object["fastestAgent"] as? String == "coder")
        let agents = try #require(object["byAgent"] as? [[String: Any]])
        #expect(agents.compactMap { $0["agent"] as? String } == ["coder", "planner", "reviewer"])
        #expect(agents[0]["relative"] as? Double == 1)
        // planner's claude runs: ten of mean 100 ms and one of 400 ms.
        let plannerMean = (100.0 * 10 + 400) / 11
        #expect(abs(try #require(agents[1]["meanMs"] as? Double) - plannerMean) < 0.001)
        #expect(abs(try #require(agents[1]["relative"] as? Double) - plannerMean / 50) < 0.000_001)
        #expect(agents[2]["relative"] as? Double == 3)
        #expect(try #require(agents[2]["pValue"] as? Double) < 0.001)

        let text = try CLI.run(["compare", "--cli", "claude", "--log", log])
        #expect(text.stdoutLines.first == "claude: 3 agents, fastest coder (mean of the successful runs in each window)", "\(text)")
        #expect(text.stdoutLines.dropFirst().first?.split(separator: " ").prefix(2) == ["RANK", "AGENT"], "\(text)")
        let positions = ["coder", "planner", "reviewer"].compactMap { name in
            text.stdoutLines.firstIndex { $0.split(separator: " ").dropFirst().first.map(String.init) == name }
        }
        #expect(positions.count == 3 && positions == positions.sorted(), "\(text)")

        let one = try CLI.run(["compare", "--cli", "gemini", "--log", log])
        #expect(one.stdoutLines.first == "gemini: 1 agent, nothing to compare it with (mean of the successful runs in each window)")
    }

    @Test(arguments: [
        (["compare"], 64, "perflog: give exactly one of --agent (compare its CLIs) and --cli (compare its agents)"),
        (["compare", "--agent", "planner", "--cli", "claude"], 64, "perflog: give exactly one of --agent"),
        (["compare", "--cli", "claude", "--by", "model"], 64, "perflog: --by needs --agent"),
        (["compare", "--agent", "planner", "--by", ""], 65, "perflog: --by: keys must not be empty"),
        (["compare", "--cli", "nothing"], 65, "perflog: cli: the log holds nothing of 'nothing' (CLIs in the log: claude, codex, gemini)"),
        (["compare", "--agent", "nobody", "--by", "model"], 65, "perflog: agent: the log holds nothing of 'nobody' (agents in the log: coder, planner, reviewer)"),
        (["compare", "--cli", ""], 65, "perflog: cli:"),
    ] as [([String], Int32, String)])
    func badCombinationsExitWithOneLine(arguments: [String], status: Int32, message: String) throws {
        let dir = try TemporaryDirectory()
        let log = try Self.log(in: dir)
        let r = try CLI.run(arguments + ["--log", log])
        #expect(r.status == status, "\(r)")
        #expect(r.stderrLines.count == 1 && r.stderr.hasPrefix(message), "\(r)")
        #expect(r.stdout.isEmpty)
    }
}
