import Foundation
import PerfLogTestSupport
import Testing

/// `perflog forget` and `perflog rename`, run as a user would.
@Suite("forget and rename")
struct ForgetRenameTests {
    /// A log with ring size 5: ' planner '/claude (7 measures, odd seconds, one failed),
    /// Planner/claude (6, even seconds, imported after it), ' planner '/codex and
    /// coder/codex (3 each). Times interleave while commit order does not.
    static func makeLog(_ dir: TemporaryDirectory) throws -> (log: String, measures: [Measure]) {
        let log = dir.file("log")
        let created = try CLI.run(["init", "--retain", "5", "--log", log])
        #expect(created.status == 0, "\(created)")
        var measures: [Measure] = []
        for i in 0..<7 { measures.append(Measure(agent: " planner ", cli: "claude", second: 2 * i + 1, ms: 100 + Double(i), ok: i != 5)) }
        for i in 0..<6 { measures.append(Measure(agent: "Planner", cli: "claude", second: 2 * i + 2, ms: 200 + Double(i), ok: i != 4)) }
        for i in 0..<3 {
            measures.append(Measure(agent: " planner ", cli: "codex", second: 40 + i, ms: 300, ok: true))
            measures.append(Measure(agent: "coder", cli: "codex", second: 40 + i, ms: 400, ok: true))
        }
        let file = dir.file("events.ndjson")
        try measures.enumerated().map { $0.element.line(invocation: $0.offset + 1) }.joined().write(toFile: file, atomically: true, encoding: .utf8)
        let imported = try CLI.run(["import", file, "--log", log])
        #expect(imported.status == 0, "\(imported)")
        return (log, measures)
    }

    /// One measure of the fixture, as an NDJSON line.
    struct Measure {
        var agent: String, cli: String, second: Int, ms: Double, ok: Bool

        func line(invocation: Int) -> String {
            let time = String(format: "2026-01-01T00:00:%02d.000000Z", second)
            let id = String(format: "%016x", invocation)
            let name = { (s: String) in s.replacingOccurrences(of: "\"", with: "\\\"") }
            return "{\"time\":\"\(time)\",\"kind\":\"measure\",\"agent\":\"\(name(agent))\",\"cli\":\"\(name(cli))\",\"invocation\":\"\(id)\","
                + "\"durationMs\":\(ms),\"outcome\":\"\(ok ? "ok" : "failed")\"\(ok ? "" : ",\"exitCode\":1"),\"pid\":1}\n"
        }
    }

    /// `stats --json` as objects, by `agent/cli`.
    static func stats(_ log: String) throws -> [String: [String: Any]] {
        let r = try CLI.run(["stats", "--json", "--log", log])
        #expect(r.status == 0, "\(r)")
        let objects = (try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]]) ?? []
        return Dictionary(uniqueKeysWithValues: objects.map { ("\($0["agent"] ?? "")/\($0["cli"] ?? "")", $0) })
    }

    static func expectSound(_ log: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let check = try CLI.run(["check", "--log", log])
        #expect(check.status == 0, "\(check)", sourceLocation: sourceLocation)
    }

    @Test("forget refuses without a terminal and without --yes: exit 64, one line, nothing forgotten")
    func forgetNeedsYes() throws {
        let dir = try TemporaryDirectory()
        let (log, _) = try Self.makeLog(dir)
        let before = try Self.stats(log)
        let r = try CLI.run(["forget", "--agent", " planner ", "--log", log])
        #expect(r.status == 64, "\(r)")
        #expect(r.stderrLines == ["perflog: forget would remove 2 streams (8 events) of ' planner ' for good; pass --yes to confirm (there is no terminal to ask on)"])
        #expect(r.stdout.isEmpty)
        #expect(try Self.stats(log).keys.sorted() == before.keys.sorted())
    }

    @Test("forget --yes removes the agent's streams, prints each, and leaves the others as they were")
    func forgetWithYes() throws {
        let dir = try TemporaryDirectory()
        let (log, _) = try Self.makeLog(dir)
        let before = try Self.stats(log)
        let r = try CLI.run(["forget", "--agent", " planner ", "--yes", "--log", log])
        #expect(r.status == 0, "\(r)")
        #expect(r.stdoutLines == ["forgot ' planner '/claude (5 measures, 0 in flight)", "forgot ' planner '/codex (3 measures, 0 in flight)"])
        try Self.expectSound(log)
        let after = try Self.stats(log)
        #expect(after.keys.sorted() == ["Planner/claude", "coder/codex"])
        for (name, object) in after { #expect(NSDictionary(dictionary: object) == NSDictionary(dictionary: before[name] ?? [:]), "\(name)") }
    }

    @Test("forget --cli C --json removes that stream only and prints one object")
    func forgetOneStreamJSON() throws {
        let dir = try TemporaryDirectory()
        let (log, _) = try Self.makeLog(dir)
        let r = try CLI.run(["forget", "--agent", " planner ", "--cli", "codex", "--yes", "--json", "--log", log])
        #expect(r.status == 0, "\(r)")
        let forgotten = decodeObject(r.stdout)["forgotten"] as? [[String: Any]] ?? []
        #expect(forgotten.count == 1)
        #expect(forgotten.first?["agent"] as? String == " planner " && forgotten.first?["cli"] as? String == "codex")
        #expect(forgotten.first?["measures"] as? Int == 3 && forgotten.first?["inFlight"] as? Int == 0)
        #expect(forgotten.first?["lifetimeMeasures"] as? Int == 3)
        try Self.expectSound(log)
        #expect(try Self.stats(log)[" planner /claude"] != nil)
    }

    @Test("on a terminal forget asks, and goes on only for yes", arguments: [
        ("y", 0), ("yes", 0), ("YES", 0), ("n", 1), ("", 1), ("maybe", 1),
    ])
    func forgetAsks(answer: String, status: Int32) throws {
        let dir = try TemporaryDirectory()
        let (log, _) = try Self.makeLog(dir)
        // script(1) runs it under a pseudo-terminal that reads our standard input.
        let command = [CLI.binary, "forget", "--agent", "coder", "--log", log].map(Self.shellQuoted).joined(separator: " ")
        let r = try Program.run("/usr/bin/script", ["-qec", command, "/dev/null"], environment: CLI.environment(),
                                input: answer + "\n")
        #expect(r.status == status, "\(r)")
        #expect(r.stdout.contains("forget 1 stream (3 events) of coder? [y/N]"), "\(r)")
        #expect(r.stdout.contains("forgot coder/codex (3 measures, 0 in flight)") == (status == 0), "\(r)")
        #expect((try Self.stats(log)["coder/codex"] == nil) == (status == 0))
        try Self.expectSound(log)
    }

    static func shellQuoted(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }

    @Test("rename merges into an existing stream: the newest 5 of the union by time, as stats shows")
    func renameMerges() throws {
        let dir = try TemporaryDirectory()
        let (log, measures) = try Self.makeLog(dir)
        let totalBefore = decodeObject(try CLI.run(["info", "--json", "--log", log]).stdout)["total"] as? Int
        let r = try CLI.run(["rename", "--agent", " planner ", "--cli", "claude", "--to", "Planner", "--json", "--log", log])
        #expect(r.status == 0, "\(r)")
        let renamed = decodeObject(r.stdout)["renamed"] as? [[String: Any]] ?? []
        #expect(renamed.count == 1)
        #expect(renamed.first?["merged"] as? Bool == true)
        #expect(renamed.first?["measures"] as? Int == 10 && renamed.first?["kept"] as? Int == 5)
        try Self.expectSound(log)

        // The plain computation: each window is its stream's newest 5; the merged one the
        // newest 5 of both by time.
        let windows = ["Planner", " planner "].flatMap { agent in measures.filter { $0.agent == agent && $0.cli == "claude" }.suffix(5) }
        let kept = windows.sorted { $0.second < $1.second }.suffix(5)
        let ok = kept.filter(\.ok).map(\.ms)
        let stats = try Self.stats(log)
        #expect(stats[" planner /claude"] == nil)
        let merged = try #require(stats["Planner/claude"])
        #expect(merged["count"] as? Int == 5)
        #expect(merged["failures"] as? Int == kept.filter { !$0.ok }.count)
        // The file rounds to microseconds.
        #expect(abs((merged["meanMs"] as? Double ?? 0) - ok.reduce(0, +) / Double(ok.count)) <= 0.0005, "\(merged)")
        #expect(merged["minMs"] as? Double == ok.min() && merged["maxMs"] as? Double == ok.max())
        #expect(merged["firstAt"] as? String == String(format: "2026-01-01T00:00:%02d.000Z", kept.first?.second ?? 0))
        // Lifetime counters add up: what the two streams had counted is counted still.
        let info = try CLI.run(["info", "--json", "--log", log])
        #expect(totalBefore != nil && decodeObject(info.stdout)["total"] as? Int == totalBefore, "\(info)")
    }

    @Test("rename of a whole agent prints a line a stream; --to-cli renames the CLI too")
    func renameAgentText() throws {
        let dir = try TemporaryDirectory()
        let (log, _) = try Self.makeLog(dir)
        let r = try CLI.run(["rename", "--agent", " planner ", "--to", "Planner", "--log", log])
        #expect(r.status == 0, "\(r)")
        #expect(r.stdoutLines == ["' planner '/claude → Planner/claude (merged: kept the newest 5 of 10 measures)", "' planner '/codex → Planner/codex"])
        try Self.expectSound(log)
        let cli = try CLI.run(["rename", "--agent", "coder", "--cli", "codex", "--to", "coder", "--to-cli", "Codex", "--log", log])
        #expect(cli.stdoutLines == ["coder/codex → coder/Codex"], "\(cli)")
        #expect(try Self.stats(log).keys.sorted() == ["Planner/claude", "Planner/codex", "coder/Codex"])
        try Self.expectSound(log)
    }

    @Test("bad selections and names exit 64 or 65 with one line, and change nothing", arguments: [
        (["forget", "--agent", "nobody", "--yes"], 65, "agent: the log holds nothing of nobody (agents in the log: ' planner ', Planner, coder)"),
        (["forget", "--agent", "coder", "--cli", "gemini", "--yes"], 65, "cli: the log holds nothing of coder on gemini (CLIs of coder in the log: codex)"),
        (["forget", "--agent", "", "--yes"], 65, "agent: must not be empty"),
        (["forget", "--agent", "a\u{1b}b", "--yes"], 65, "agent: must not contain control characters"),
        (["rename", "--agent", "nobody", "--to", "somebody"], 65, "agent: the log holds nothing of nobody (agents in the log: ' planner ', Planner, coder)"),
        (["rename", "--agent", "coder", "--to", ""], 65, "to: must not be empty"),
        (["rename", "--agent", "coder", "--to", "coder", "--to-cli", String(repeating: "x", count: 129)], 65, "to-cli: must be at most 128 bytes of UTF-8 (got 129)"),
        (["rename", "--agent", "coder", "--to", "coder"], 64, "--to names coder again; give another name (and --to-cli to rename the CLI)"),
        (["rename", "--agent", "coder", "--cli", "codex", "--to", "coder", "--to-cli", "codex"], 64, "--to names coder/codex again; give another name (and --to-cli to rename the CLI)"),
        (["rename", "--agent", "coder", "--to", "coder", "--to-cli", "codex"], 64, "nothing to rename: the streams of coder already have the names asked for"),
    ])
    func badInput(arguments: [String], status: Int32, message: String) throws {
        let dir = try TemporaryDirectory()
        let (log, _) = try Self.makeLog(dir)
        let before = try Snapshot(log + "/data.mdb")
        let r = try CLI.run(arguments + ["--log", log])
        #expect(r.status == status, "\(r)")
        #expect(r.stderrLines == ["perflog: " + message], "\(r)")
        #expect(r.stdout.isEmpty)
        #expect(try Snapshot(log + "/data.mdb") == before)
    }

    @Test("a missing log is no input (66) and is not created", arguments: [
        ["forget", "--agent", "coder", "--yes"], ["rename", "--agent", "coder", "--to", "Coder"],
    ])
    func missingLog(arguments: [String]) throws {
        let dir = try TemporaryDirectory()
        let r = try CLI.run(arguments + ["--log", dir.file("none")])
        #expect(r.status == 66, "\(r)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("none")))
    }
}
