import Foundation
import PerfLogTestSupport
import Testing

@Suite("stats: per-stream figures as a table and as JSON")
struct StatsTests {
    @Test func jsonIsTheFilesStreamObjects() throws {
        let dir = try TemporaryDirectory()
        let log = try Synthetic.mixedLog(in: dir)
        let out = dir.file("agent-performance.json")
        #expect(try CLI.run(["project", "--out", out, "--log", log]).status == 0)
        let fileStreams = try objectLines(ofSection: "streams", in: out)
        #expect(fileStreams.count == 5)

        let all = try CLI.run(["stats", "--json", "--log", log])
        #expect(all.status == 0, "\(all)")
        #expect(all.stderr.isEmpty)
        let parsed = try JSONSerialization.jsonObject(with: Data(all.stdout.utf8)) as? [[String: Any]]
        #expect(parsed?.count == 5, "one JSON array of five objects")
        #expect(arrayLines(all.stdout) == fileStreams)

        // One stream, read from its ring alone, gives the same object.
        let claude = try #require(fileStreams.first { $0.contains("\"cli\": \"claude\"") })
        let one = try CLI.run(["stats", "--agent", "planner", "--cli", "claude", "--json", "--log", log])
        #expect(one.status == 0, "\(one)")
        #expect(arrayLines(one.stdout) == [claude])
        let figures = decodeObject(claude)
        #expect(figures["count"] as? Int == 40)
        #expect(figures["failures"] as? Int == 4)
        #expect(figures["inFlight"] as? Int == 1)

        let agent = try CLI.run(["stats", "--agent", "planner", "--json", "--log", log])
        #expect(arrayLines(agent.stdout) == fileStreams.filter { $0.contains("\"agent\": \"planner\"") })
        let unicode = try CLI.run(["stats", "--cli", "crème", "--json", "--log", log])
        #expect(arrayLines(unicode.stdout) == fileStreams.filter { $0.contains("crème") })
    }

    @Test func theTableShowsEveryStreamInReadableUnits() throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("log")
        for _ in 0..<3 { try CLI.record(log: log, agent: "planner", cli: "claude", duration: "812.4ms") }
        try CLI.record(log: log, agent: "planner", cli: "claude", duration: "2s", extra: ["--failed"])
        try CLI.record(log: log, agent: "tester", cli: "swift", duration: "5ms", extra: ["--exit-code", "1"])

        let r = try CLI.run(["stats", "--log", log])
        #expect(r.status == 0, "\(r)")
        let lines = r.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 4, "\(r)")
        let header = lines[0].split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        #expect(header == ["AGENT", "CLI", "COUNT", "FAILURES", "IN", "FLIGHT", "MEAN", "MIN", "P50", "P90", "P95", "P99", "MAX",
                           "STDDEV"])
        // Three successful runs: every figure is marked as rough, and a footnote says why.
        let planner = lines[1].split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        #expect(planner == ["planner", "claude", "4", "1", "0", "~812.4", "ms", "~812.4", "ms", "~812.4", "ms", "~812.4", "ms",
                            "~812.4", "ms", "~812.4", "ms", "~812.4", "ms", "~0", "ns"])
        #expect(lines[2].hasPrefix("tester"))
        #expect(lines[2].split(separator: " ").suffix(8) == Array(repeating: "–", count: 8),
                "no successful run: no durations; \(lines[2])")
        #expect(lines[3] == "~ from fewer than 5 successful runs")
        // Columns line up: every row ends its MEAN cell where the header ends MEAN.
        let meanEnd = try #require(lines[0].range(of: "MEAN")).upperBound
        let column = lines[0].distance(from: lines[0].startIndex, to: meanEnd)
        for line in lines.dropFirst().dropLast() {
            let characters = Array(line)
            #expect(characters.count > column && characters[column - 1] != " " && characters[column] == " ", "\(r.stdout)")
        }
        // Not a terminal: no sparkline column.
        #expect(!lines[0].contains("WINDOW"))
    }

    @Test func sortOrdersTheRows() throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("log")
        var lines: [String] = []
        var n = 1
        for (cli, ms, count, failures) in [("a", 300, 2, 0), ("b", 100, 5, 1), ("c", 200, 3, 2), ("d", 0, 1, 1)] {
            for i in 0..<count {
                lines.append(Synthetic.measure("x", cli, ms: "\(ms + i)", at: n, ok: i >= failures, invocation: n))
                n += 1
            }
        }
        try Synthetic.load(lines, into: log, scratch: dir)
        func order(_ key: String) throws -> [String] {
            let r = try CLI.run(["stats", "--sort", key, "--log", log])
            #expect(r.status == 0, "\(r)")
            // The rows, without the header and the footnote on rough figures.
            return r.stdoutLines.dropFirst().filter { !$0.hasPrefix("~ ") }.map { String($0.split(separator: " ")[1]) }
        }
        #expect(try order("mean") == ["b", "c", "a", "d"])
        #expect(try order("p50") == ["b", "c", "a", "d"])
        #expect(try order("p95") == ["b", "c", "a", "d"])
        #expect(try order("count") == ["b", "c", "a", "d"])
        #expect(try order("failures") == ["c", "b", "d", "a"])
        #expect(try CLI.run(["stats", "--log", log]).stdoutLines.dropFirst().filter { !$0.hasPrefix("~ ") }
                .map { String($0.split(separator: " ")[1]) } == ["a", "b", "c", "d"])
        let bad = try CLI.run(["stats", "--sort", "median", "--log", log])
        #expect(bad.status == 64, "\(bad)")
    }

    @Test func noMatchingStreamIsSaidAndExits0() throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("log")
        try CLI.record(log: log)
        let text = try CLI.run(["stats", "--agent", "nobody", "--log", log])
        #expect(text.status == 0, "\(text)")
        #expect(text.stdout == "No stream matches --agent nobody.\n")
        let one = try CLI.run(["stats", "--agent", "planner", "--cli", "nothing", "--json", "--log", log])
        #expect(one.status == 0, "\(one)")
        #expect(one.stdout == "[]\n")

        let missing = try CLI.run(["stats", "--log", dir.file("missing")])
        #expect(missing.status == 66, "\(missing)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("missing")))
        let empty = try CLI.run(["stats", "--agent", "", "--log", log])
        #expect(empty.status == 65, "\(empty)")
        #expect(empty.stderr.hasPrefix("perflog: agent:"), "\(empty)")
    }

    #if os(Linux)
    @Test func aTerminalGetsASparklineOfTheWindow() throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("log")
        var lines = (1...8).map { Synthetic.measure("spark", "line", ms: "\($0)", at: $0, invocation: $0) }
        lines.append(Synthetic.measure("spark", "line", ms: "1", at: 9, ok: false, invocation: 9))
        // 32 measures: 16 slots of two, rising.
        lines += (1...32).map { Synthetic.measure("spark", "long", ms: "\(100 + $0)", at: 100 + $0, invocation: 100 + $0) }
        try Synthetic.load(lines, into: log, scratch: dir)

        // script(1) gives perflog a terminal for standard output.
        let command = "stty cols 200 rows 50; '\(CLI.binary)' stats --color never --log '\(log)'"
        let r = try Program.run("/usr/bin/script", ["-qec", command, "/dev/null"], environment: CLI.environment(),
                                mergingErrors: true, requiringUTF8: true)
        #expect(r.status == 0, "\(r)")
        let output = r.stdout
        let rows = output.replacingOccurrences(of: "\r", with: "").split(separator: "\n").map(String.init)
        #expect(rows.first?.hasSuffix("WINDOW") == true, "\(output)")
        #expect(rows.contains { $0.hasPrefix("spark  line") && $0.hasSuffix("▁▂▃▄▅▆▇█×") }, "\(output)")
        #expect(rows.contains { $0.hasPrefix("spark  long") && $0.hasSuffix("▁▁▂▂▃▃▄▄▅▅▆▆▇▇██") }, "\(output)")
    }
    #endif
}

@Suite("compare: one agent's CLIs ranked")
struct CompareTests {
    /// planner: fast (mean 100 ms), close (101 ms, more spread), slow (200 ms), lonely
    /// (one run), broken (failures only).
    static func rankedLog(in dir: TemporaryDirectory) throws -> String {
        let log = dir.file("log")
        var lines: [String] = []
        var n = 1
        func add(_ cli: String, _ durations: [Double], ok: Bool = true) {
            for d in durations {
                lines.append(Synthetic.measure("planner", cli, ms: String(d), at: n, ok: ok, invocation: n))
                n += 1
            }
        }
        add("slow", (0..<30).map { $0 % 2 == 0 ? 190 : 210 })
        add("close", (0..<30).map { $0 % 2 == 0 ? 89 : 113 })
        add("fast", (0..<30).map { $0 % 2 == 0 ? 90 : 110 })
        add("lonely", [300])
        add("broken", [1, 2], ok: false)
        try Synthetic.load(lines + [Synthetic.measure("coder", "fast", ms: "1", at: 999, invocation: 999)], into: log, scratch: dir)
        return log
    }

    @Test func jsonRanksFastestFirstWithSignificance() throws {
        let dir = try TemporaryDirectory()
        let log = try Self.rankedLog(in: dir)
        let r = try CLI.run(["compare", "--agent", "planner", "--json", "--log", log])
        #expect(r.status == 0, "\(r)")
        let object = decodeObject(r.stdout.trimmingCharacters(in: .newlines))
        #expect(object["agent"] as? String == "planner")
        #expect(object["fastestCli"] as? String == "fast")
        let byCli = try #require(object["byCli"] as? [[String: Any]])
        #expect(byCli.compactMap { $0["cli"] as? String } == ["fast", "close", "slow", "lonely", "broken"])
        #expect(byCli[0]["relative"] as? Double == 1)
        #expect(byCli[1]["meanMs"] as? Double == 101)
        #expect(try #require(byCli[1]["pValue"] as? Double) > 0.05)
        #expect(try #require(byCli[2]["pValue"] as? Double) < 0.001)
        #expect(byCli[2]["relative"] as? Double == 2)
        #expect(byCli[3]["pValue"] is NSNull, "one run cannot be tested")
        #expect(byCli[4]["meanMs"] is NSNull)

        // The same object as the file's comparison of the agent.
        let out = dir.file("agent-performance.json")
        #expect(try CLI.run(["project", "--out", out, "--log", log]).status == 0)
        let fromFile = try objectLines(ofSection: "comparisons", in: out).filter { $0.hasPrefix("{ \"agent\": \"planner\"") }
        #expect(fromFile == [r.stdout.trimmingCharacters(in: .newlines)])
    }

    @Test func textSaysWhatIsSignificant() throws {
        let dir = try TemporaryDirectory()
        let log = try Self.rankedLog(in: dir)
        let r = try CLI.run(["compare", "--agent", "planner", "--log", log])
        #expect(r.status == 0, "\(r)")
        let lines = r.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first == "planner: 5 CLIs, fastest fast (mean of the successful runs in each window)")
        func row(_ cli: String) -> String? {
            lines.first { $0.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.map(String.init) == cli }
        }
        let rows = ["fast", "close", "slow", "lonely", "broken"].map(row)
        #expect(rows.allSatisfy { $0 != nil }, "\(r.stdout)")
        let positions = rows.compactMap { $0 }.compactMap { lines.firstIndex(of: $0) }
        #expect(positions == positions.sorted(), "ranked fastest first: \(r.stdout)")
        #expect(row("fast")?.hasSuffix("fastest") == true)
        #expect(row("close")?.hasSuffix("not significant") == true, "\(r.stdout)")
        #expect(row("slow")?.hasSuffix("significant at 5%") == true, "\(r.stdout)")
        #expect(row("slow")?.contains("2.00× ± ") == true, "\(r.stdout)")
        #expect(row("lonely")?.hasSuffix("too few runs to test") == true, "\(r.stdout)")
        #expect(row("broken")?.hasSuffix("no successful runs") == true, "\(r.stdout)")
        #expect(lines.contains { $0.hasPrefix("note: lonely has 1 successful run") }, "\(r.stdout)")
    }

    @Test func anUnknownAgentExits65NamingTheKnownOnes() throws {
        let dir = try TemporaryDirectory()
        let log = try Self.rankedLog(in: dir)
        let r = try CLI.run(["compare", "--agent", "nobody", "--json", "--log", log])
        #expect(r.status == 65, "\(r)")
        #expect(r.stdout.isEmpty)
        #expect(r.stderrLines == ["perflog: agent: the log holds nothing of 'nobody' (agents in the log: coder, planner)"])
        let missing = try CLI.run(["compare", "--agent", "planner", "--log", dir.file("missing")])
        #expect(missing.status == 66, "\(missing)")
        let noAgent = try CLI.run(["compare", "--log", log])
        #expect(noAgent.status == 64, "\(noAgent)")
    }
}
