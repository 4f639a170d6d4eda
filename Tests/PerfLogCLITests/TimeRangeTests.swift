import Foundation
import PerfLogTestSupport
import Testing

@Suite("--since and --until on tail, stats, export and compare")
struct TimeRangeTests {
    /// planner/claude: 10 measures at seconds 10…19 (100…109 ms); planner/codex: 10 at
    /// seconds 20…29 (200…209 ms, the one at 21 failed); a mark in flight at second 25.
    /// Times are seconds after 2026-01-19T00:00:00Z; seqs follow the times.
    static func log(in dir: TemporaryDirectory) throws -> String {
        let log = dir.file("log")
        var lines: [String] = []
        for i in 0..<10 { lines.append(Synthetic.measure("planner", "claude", ms: "\(100 + i)", at: 10 + i, invocation: 10 + i)) }
        for i in 0..<10 {
            lines.append(Synthetic.measure("planner", "codex", ms: "\(200 + i)", at: 20 + i, ok: i != 1, invocation: 20 + i))
        }
        lines.insert(Synthetic.mark("planner", "codex", at: 25, invocation: 99), at: 15)
        try Synthetic.load(lines, into: log, scratch: dir)
        return log
    }

    /// `--since` or `--until` at `second` seconds after the log's base time.
    static func at(_ second: Int) -> String { Synthetic.time(second) }

    /// The `time`s of NDJSON lines, as seconds after the base time.
    static func seconds(_ lines: [String]) -> [Int] {
        lines.compactMap { line in
            (decodeObject(line)["time"] as? String).flatMap { t in
                let clock = t.split(separator: "T")[1].prefix(8).split(separator: ":").compactMap { Int($0) }
                return clock.count == 3 ? clock[0] * 3600 + clock[1] * 60 + clock[2] : nil
            }
        }
    }

    @Test func tailShowsTheNewestEventsWithinTheRange() throws {
        let dir = try TemporaryDirectory()
        let log = try Self.log(in: dir)
        let inside = try CLI.run(["tail", "--json", "--since", Self.at(12), "--until", Self.at(15), "--log", log])
        #expect(inside.status == 0, "\(inside)")
        #expect(Self.seconds(inside.stdoutLines) == [12, 13, 14], "since inclusive, until exclusive: \(inside)")

        // -n counts within the range, however many newer events there are.
        let newest = try CLI.run(["tail", "-n", "2", "--json", "--until", Self.at(20), "--log", log])
        #expect(Self.seconds(newest.stdoutLines) == [18, 19], "\(newest)")

        // The mark counts at its start time.
        let marks = try CLI.run(["tail", "--json", "--since", Self.at(25), "--until", Self.at(26), "--log", log])
        #expect(marks.stdoutLines.map { decodeObject($0)["kind"] as? String } == ["mark", "measure"], "\(marks)")

        let table = try CLI.run(["tail", "--since", Self.at(28), "--log", log])
        #expect(table.stdoutLines.count == 3 && table.stdoutLines[0].hasPrefix("TIME (UTC)"), "\(table)")
        let none = try CLI.run(["tail", "--json", "--since", Self.at(40), "--log", log])
        #expect(none.status == 0 && none.stdout.isEmpty, "\(none)")
    }

    @Test func followingPrintsOnlyNewEventsWithinTheRange() throws {
        let dir = try TemporaryDirectory()
        let log = try Self.log(in: dir)
        // An --until in the past: what is recorded now is out of range.
        let follower = try RunningCLI(["tail", "-f", "--json", "-n", "2", "--until", Self.at(20), "--log", log])
        #expect(follower.output.waitForLine { Self.seconds([$0]) == [19] } != nil, "printed \(follower.output.allLines)")
        let now = try CLI.record(log: log, agent: "planner", cli: "claude")
        // Committed after the record: once it is printed, the record was seen and skipped.
        try Synthetic.load([Synthetic.measure("late", "import", ms: "5", at: 5, invocation: 500)], into: log, scratch: dir,
                           name: "late.ndjson")
        #expect(follower.output.waitForLine { $0.contains("\"agent\":\"late\"") } != nil, "printed \(follower.output.allLines)")
        #expect(follower.stop() == 0)
        #expect(Self.seconds(follower.output.allLines) == [18, 19, 5], "\(follower.output.allLines)")
        #expect(!follower.output.allLines.contains(now))
    }

    @Test func statsCountsOnlyTheRange() throws {
        let dir = try TemporaryDirectory()
        let log = try Self.log(in: dir)
        func streams(_ extra: [String]) throws -> [[String: Any]] {
            let r = try CLI.run(["stats", "--json", "--log", log] + extra)
            #expect(r.status == 0, "\(r)")
            return try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]])
        }
        let codex = try streams(["--since", Self.at(20)])
        #expect(codex.map { $0["cli"] as? String } == ["codex"], "claude has nothing at or after 20")
        #expect(codex.first?["count"] as? Int == 10)
        #expect(codex.first?["failures"] as? Int == 1)
        #expect(codex.first?["inFlight"] as? Int == 1)

        let early = try streams(["--since", Self.at(20), "--until", Self.at(25)])
        #expect(early.first?["count"] as? Int == 5)
        #expect(early.first?["inFlight"] as? Int == 0, "the mark at 25 is outside")
        #expect(early.first?["meanMs"] as? Double == 202.25, "200, 202, 203, 204 (201 failed)")
        #expect(early.first?["minMs"] as? Double == 200)

        // One stream, read from its ring alone, is cut the same way.
        let one = try streams(["--agent", "planner", "--cli", "claude", "--since", Self.at(15)])
        #expect(one.first?["count"] as? Int == 5)
        #expect(one.first?["meanMs"] as? Double == 107)
        #expect(try streams(["--agent", "planner", "--cli", "claude", "--since", Self.at(20)]).isEmpty)

        let text = try CLI.run(["stats", "--since", Self.at(40), "--log", log])
        #expect(text.status == 0, "\(text)")
        #expect(text.stdout == "No stream matches --since \(Self.at(40)).\n")
    }

    @Test func exportWritesOnlyTheRangeInEveryFormat() throws {
        let dir = try TemporaryDirectory()
        let log = try Self.log(in: dir)
        let range = ["--since", Self.at(18), "--until", Self.at(22), "--log", log]
        let ndjson = try CLI.run(["export", "--format", "ndjson"] + range)
        #expect(ndjson.status == 0, "\(ndjson)")
        #expect(Self.seconds(ndjson.stdoutLines) == [18, 19, 20, 21])
        let csv = try CLI.run(["export", "--format", "csv"] + range)
        #expect(csv.stdout.split(separator: "\r\n").count == 5, "a header and four records: \(csv)")
        let seed = try CLI.run(["export", "--format", "seed"] + range)
        let array = try #require(try JSONSerialization.jsonObject(with: Data(seed.stdout.utf8)) as? [[String: Any]])
        #expect(array.map { $0["success"] as? Bool } == [true, true, true, false])

        let json = try CLI.run(["export", "--format", "json"] + range)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let streams = try #require(object["streams"] as? [[String: Any]])
        #expect(streams.map { $0["count"] as? Int } == [2, 2])
        #expect((object["measurements"] as? [Any])?.count == 4)

        let markdown = try CLI.run(["export", "--format", "markdown", "--since", Self.at(20), "--log", log])
        #expect(markdown.stdout.contains("| planner | codex | 10 | 1 | 1 |"), "\(markdown)")
        #expect(!markdown.stdout.contains("| planner | claude |"), "\(markdown)")

        let metrics = try CLI.run(["export", "--format", "openmetrics", "--since", Self.at(20), "--log", log])
        #expect(metrics.status == 0, "\(metrics)")
        #expect(metrics.stdout.contains("perflog_window_measures{agent=\"planner\",cli=\"codex\"} 10"), "\(metrics.stdout)")
        #expect(!metrics.stdout.contains("cli=\"claude\""), "\(metrics.stdout)")
    }

    @Test func compareRanksOnlyTheRange() throws {
        let dir = try TemporaryDirectory()
        let log = try Self.log(in: dir)
        let all = try CLI.run(["compare", "--agent", "planner", "--json", "--log", log])
        let allCLIs = (decodeObject(all.stdout.trimmingCharacters(in: .newlines))["byCli"] as? [[String: Any]])?.compactMap { $0["cli"] as? String }
        #expect(allCLIs == ["claude", "codex"], "\(all)")

        let late = try CLI.run(["compare", "--agent", "planner", "--json", "--since", Self.at(15), "--until", Self.at(25), "--log", log])
        #expect(late.status == 0, "\(late)")
        let byCli = try #require(decodeObject(late.stdout.trimmingCharacters(in: .newlines))["byCli"] as? [[String: Any]])
        #expect(byCli.compactMap { $0["cli"] as? String } == ["claude", "codex"])
        #expect(byCli[0]["meanMs"] as? Double == 107, "105…109")
        #expect(byCli[1]["meanMs"] as? Double == 202.25, "200, 202, 203, 204")

        let text = try CLI.run(["compare", "--agent", "planner", "--since", Self.at(20), "--log", log])
        #expect(text.stdoutLines.first == "planner: 1 CLI, nothing to compare it with (mean of the successful runs in each window, --since \(Self.at(20)))",
                "\(text)")

        let nothing = try CLI.run(["compare", "--agent", "planner", "--since", Self.at(40), "--log", log])
        #expect(nothing.status == 65, "\(nothing)")
        #expect(nothing.stderrLines == ["perflog: agent: the log holds nothing of 'planner' in --since \(Self.at(40)) (agents in the log: planner)"])
    }

    @Test(arguments: [["tail"], ["stats"], ["export", "--format", "ndjson"], ["compare", "--agent", "planner"]])
    func malformedOrReversedRangesExit65(command: [String]) throws {
        let dir = try TemporaryDirectory()
        let log = try Self.log(in: dir)
        for (flags, start) in [
            (["--since", "yesterday"], "perflog: --since: must be an ISO 8601 time"),
            (["--until", "2026-13-45"], "perflog: --until: must be an ISO 8601 time"),
            (["--since", "5x"], "perflog: --since: must be an ISO 8601 time"),
            (["--since", Self.at(20), "--until", Self.at(10)], "perflog: --since: must be before --until"),
            (["--since", Self.at(20), "--until", Self.at(20)], "perflog: --since: must be before --until"),
        ] {
            let r = try CLI.run(command + flags + ["--log", log])
            #expect(r.status == 65, "\(command) \(flags): \(r)")
            #expect(r.stderrLines.count == 1 && r.stderr.hasPrefix(start), "\(command) \(flags): \(r)")
            #expect(r.stdout.isEmpty)
        }
        // An age counts back from now: everything in this log is older than an hour.
        let recent = try CLI.run(command + ["--since", "1h", "--log", log])
        #expect(recent.status == (command[0] == "compare" ? 65 : 0), "\(recent)")
    }
}
