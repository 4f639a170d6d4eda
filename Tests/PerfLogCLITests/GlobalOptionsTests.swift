import Foundation
import PerfLogTestSupport
import Testing

@Suite("global options before or after the subcommand, and did you mean")
struct GlobalOptionsTests {
    static let readers: [[String]] = [
        ["info"], ["tail", "-n", "3"], ["stats"], ["compare", "--agent", "planner"], ["export", "--format", "ndjson"],
        ["export", "--format", "markdown"], ["check"], ["report", "--out", "-"],
    ]

    @Test("--log (and --log=PATH, --wait) before the subcommand means the same as after it", arguments: readers)
    func logBeforeOrAfter(command: [String]) throws {
        let dir = try TemporaryDirectory()
        let log = try Synthetic.mixedLog(in: dir)
        let after = try CLI.run(command + ["--log", log])
        #expect(after.status == 0, "\(after)")
        for before in [["--log", log], ["--log=\(log)"], ["--wait", "2s", "--log", log]] {
            let r = try CLI.run(before + command)
            #expect(r.status == after.status && r.stdout == after.stdout && r.stderr == after.stderr, "\(before + command): \(r)")
        }
    }

    @Test("--json before the subcommand, where the subcommand has it", arguments: [
        ["info"], ["stats"], ["tail", "-n", "2"], ["compare", "--agent", "planner"], ["check"],
    ])
    func jsonBefore(command: [String]) throws {
        let dir = try TemporaryDirectory()
        let log = try Synthetic.mixedLog(in: dir)
        let after = try CLI.run(command + ["--json", "--log", log])
        let before = try CLI.run(["--json", "--log", log] + command)
        #expect(before.status == 0 && before.stdout == after.stdout, "\(before)")
        #expect(before.stdout.hasPrefix("{") || before.stdout.hasPrefix("["))
    }

    @Test("writing commands too: record, exec, import, init")
    func writers() throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("log")
        #expect(try CLI.run(["--log", log, "init", "--retain", "7"]).status == 0)
        let record = try CLI.run(["--json", "--log", log, "record", "--agent", "a", "--cli", "b", "--duration", "2ms"])
        #expect(record.status == 0 && record.stdout.contains("\"durationMs\":2,"), "\(record)")
        let exec = try CLI.run(["--log", log, "exec", "--agent", "a", "--cli", "b", "--", "/bin/sh", "-c", "exit 3"])
        #expect(exec.status == 3, "\(exec)")
        let info = decodeObject(try CLI.run(["--log", log, "--json", "info"]).stdout)
        #expect(info["retain"] as? Int == 7 && info["events"] as? Int == 2)
        // A subcommand without the option says so, as for any option it does not take.
        let bad = try CLI.run(["--color", "always", "init", "--log", dir.file("other2")])
        #expect(bad.status == 64 && bad.stderr.contains("--color"), "\(bad)")
    }

    @Test("a mistyped subcommand: did you mean, on one line, exit 64", arguments: [
        ("stat", "did you mean 'stats'?"), ("tial", "did you mean 'tail'?"), ("recrod", "did you mean 'record'?"),
        ("co", "did you mean one of 'compact', 'compare'?"), ("frobnicate", "(see 'perflog --help' for the list)"),
        ("Stats", "did you mean 'stats'?"),
    ])
    func didYouMean(word: String, message: String) throws {
        let r = try CLI.run([word])
        #expect(r.status == 64, "\(r)")
        let separator = message.hasPrefix("did") ? "; " : " "
        #expect(r.stderr == "perflog: '\(word)' is not a perflog command\(separator)\(message)\n", "\(r.stderr)")
        let afterOptions = try CLI.run(["--log", "/nonexistent", word])
        #expect(afterOptions.status == 64 && afterOptions.stderr.contains(message))
    }
}
