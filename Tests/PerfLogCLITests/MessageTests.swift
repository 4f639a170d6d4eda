import Foundation
import PerfLogTestSupport
import Testing

@Suite("messages that help: one line, the exit status README's table gives, the right advice")
struct MessageTests {
    @Test("an option's choices are listed as words, not as a garbled list")
    func choices() throws {
        let r = try CLI.run(["export", "--format", "xml", "--log", "/nonexistent"])
        #expect(r.status == 64)
        #expect(r.stderr == "perflog: The value 'xml' is invalid for '--format <format>'. Please provide one of the following: ndjson, json, csv, markdown, openmetrics, prometheus or seed (see 'perflog export --help')\n", "\(r.stderr)")
    }

    @Test("-n: a negative count and a word are both command-line errors (64)", arguments: ["-1", "abc"])
    func tailCount(value: String) throws {
        let dir = try TemporaryDirectory()
        try CLI.record(log: dir.file("log"))
        let r = try CLI.run(["tail", "-n", value, "--log", dir.file("log")])
        #expect(r.status == 64 && r.stderr.split(separator: "\n").count == 1, "\(r)")
    }

    @Test("a directory that is not a log: check and compact both say so and exit 74; a missing log is 66 and is not created",
          arguments: [["check"], ["compact"], ["check", "--repair"], ["stats"]])
    func notALog(command: [String]) throws {
        let dir = try TemporaryDirectory()
        let other = dir.file("other")
        try FileManager.default.createDirectory(atPath: other, withIntermediateDirectories: true)
        try "x".write(toFile: other + "/notes.txt", atomically: true, encoding: .utf8)
        let r = try CLI.run(command + ["--log", other])
        #expect(r.status == 74, "\(r)")
        #expect(r.stderr.contains("is not a perflog log") && r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
        #expect(r.stdout.isEmpty)

        let missing = try CLI.run(command + ["--log", dir.file("missing")])
        #expect(missing.status == 66, "\(missing)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("missing")))
    }

    @Test("the commands perflog suggests name the log the command line named")
    func adviceNamesTheLog() throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("my log")
        try CLI.record(log: log)
        // A damage note makes every writer refuse the log and advise check and recover.
        try "found=a test\n".write(toFile: log + "/perflog.damaged", atomically: true, encoding: .utf8)
        let r = try CLI.run(["record", "--agent", "a", "--cli", "b", "--duration", "1ms", "--log", log])
        #expect(r.status == 74, "\(r)")
        #expect(r.stderr.contains("`perflog check --log '\(log)'`") && r.stderr.contains("`perflog recover --log '\(log)' --out DIR`"),
                "\(r.stderr)")
    }

    @Test("check --repair on a healthy log after a killed exec: routine upkeep, not damage")
    func repairAfterAKilledExec() throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("log")
        try CLI.record(log: log)
        // A mark whose measure never came: an exec killed two hours ago.
        let mark = "{\"time\":\"2026-01-19T00:00:00.000000Z\",\"kind\":\"mark\",\"agent\":\"planner\",\"cli\":\"claude\",\"invocation\":\"00000000000000aa\",\"pid\":9}"
        try Synthetic.load([mark], into: log, scratch: dir)
        let r = try CLI.run(["check", "--repair", "--log", log])
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout.hasPrefix("repaired: routine upkeep only: 1 abandoned mark expired (an invocation that never ended)\n"), "\(r.stdout)")
        let json = decodeObject(try CLI.run(["check", "--repair", "--json", "--log", log]).stdout)
        #expect((json["repaired"] as? [String: Any])?["streamsRebuilt"] as? Int == 0)
    }
}
