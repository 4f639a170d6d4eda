import Foundation
import PerfLogTestSupport
import Testing

@Suite("project: agent-performance.json, once or watched")
struct ProjectTests {
    @Test func writesTheFileThenLeavesItAloneUntilTheLogChanges() throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("log"), out = dir.file("agent-performance.json")
        try CLI.record(log: log, agent: "planner", cli: "claude", duration: "812.4ms")
        try CLI.record(log: log, agent: "planner", cli: "codex", duration: "700ms")
        try CLI.record(log: log, agent: "planner", cli: "codex", duration: "1s", extra: ["--failed"])

        let first = try CLI.run(["project", "--out", out, "--log", log])
        #expect(first.status == 0, "\(first)")
        #expect(first.stdout == "wrote \(out) (2 streams, 3 measurements)\n")
        #expect(first.stderr.isEmpty)
        let written = try String(contentsOfFile: out, encoding: .utf8)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(written.utf8)) as? [String: Any])
        #expect(object["schemaVersion"] as? Int == 1)
        #expect((object["streams"] as? [Any])?.count == 2)
        #expect((object["measurements"] as? [Any])?.count == 3)
        // The same bytes as the json export, which projects the same log.
        #expect(try CLI.run(["export", "--format", "json", "--log", log]).stdout == written)

        let identity = fileIdentity(out)
        let second = try CLI.run(["project", "--out", out, "--log", log])
        #expect(second.status == 0, "\(second)")
        #expect(second.stdout == "\(out) is up to date\n")
        #expect(fileIdentity(out) == identity, "an unchanged log rewrote the file")
        #expect(try String(contentsOfFile: out, encoding: .utf8) == written)

        let forced = try CLI.run(["project", "--out", out, "--force", "--log", log])
        #expect(forced.stdout == "wrote \(out) (2 streams, 3 measurements)\n", "\(forced)")
        #expect(fileIdentity(out) != identity, "--force did not write")
        #expect(try String(contentsOfFile: out, encoding: .utf8) == written, "an unchanged log gave other bytes")

        try CLI.record(log: log, agent: "reviewer", cli: "gemini", duration: "1.5s")
        let third = try CLI.run(["project", "--out", out, "--json", "--log", log])
        #expect(third.status == 0, "\(third)")
        let report = decodeObject(third.stdout.trimmingCharacters(in: .newlines))
        #expect(report["path"] as? String == out)
        #expect(report["result"] as? String == "written")
        #expect(report["streams"] as? Int == 3)
        #expect(report["measurements"] as? Int == 4)
    }

    @Test func writesToTheDefaultPathUnderTheCurrentDirectory() throws {
        let dir = try TemporaryDirectory()
        try CLI.record(log: dir.file(".planning/metrics/perflog"))
        let r = try CLI.run(["project"], in: dir.path)
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout == "wrote .planning/metrics/agent-performance.json (1 stream, 1 measurement)\n")
        #expect(FileManager.default.fileExists(atPath: dir.file(".planning/metrics/agent-performance.json")))
    }

    @Test func aMissingLogExits66AndNothingIsCreated() throws {
        let dir = try TemporaryDirectory()
        let r = try CLI.run(["project", "--out", dir.file("out.json"), "--log", dir.file("missing")])
        #expect(r.status == 66, "\(r)")
        #expect(r.stderrLines.count == 1)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }

    @Test func aTargetThatCannotBeWrittenExits73WithThePathAndTheReason() throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("log")
        try CLI.record(log: log)

        let inMissingDirectory = dir.file("no/such/dir/out.json")
        let r = try CLI.run(["project", "--out", inMissingDirectory, "--log", log])
        #expect(r.status == 73, "\(r)")
        #expect(r.stderrLines.count == 1, "\(r)")
        #expect(r.stderr.hasPrefix("perflog: cannot write \(inMissingDirectory):"), "\(r)")
        #expect(r.stderr.contains("No such file or directory"), "\(r)")
        #expect(r.stdout.isEmpty)

        // A directory where the file should be: the rename cannot replace it.
        let directory = dir.file("taken")
        try FileManager.default.createDirectory(atPath: directory + "/inside", withIntermediateDirectories: true)
        let taken = try CLI.run(["project", "--out", directory, "--log", log])
        #expect(taken.status == 73, "\(taken)")
        #expect(taken.stderr.hasPrefix("perflog: cannot write \(directory):"), "\(taken)")
        // No temporary file is left behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == ["log", "taken"])
    }

    @Test func watchRewritesTheFileAfterACommitByAnotherProcess() throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("log"), out = dir.file("agent-performance.json")
        try CLI.record(log: log, agent: "planner", cli: "claude", duration: "100ms")

        let watcher = try RunningCLI(["project", "--watch", "--out", out, "--log", log])
        let initial = "wrote \(out) (1 stream, 1 measurement)"
        #expect(watcher.output.waitForLine { $0 == initial } != nil, "printed \(watcher.output.allLines)")

        try CLI.record(log: log, agent: "planner", cli: "codex", duration: "250ms")
        let update = "wrote \(out) (2 streams, 2 measurements)"
        #expect(watcher.output.waitForLine { $0 == update } != nil, "printed \(watcher.output.allLines)")
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out))) as? [String: Any])
        let clis = (object["streams"] as? [[String: Any]])?.compactMap { $0["cli"] as? String }
        #expect(clis == ["claude", "codex"])

        #expect(watcher.stop(SIGTERM) == 0)
        #expect(watcher.errors.allLines.isEmpty, "\(watcher.errors.allLines)")
        #expect(watcher.output.allLines == [initial, update])
    }

    @Test func watchWarnsOnceWhileTheTargetIsUnwritableAndRecovers() throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("log")
        let later = dir.file("later"), out = later + "/agent-performance.json"
        try CLI.record(log: log)

        let watcher = try RunningCLI(["project", "--watch", "--out", out, "--log", log])
        let warning = watcher.errors.waitForLine { $0.hasPrefix("perflog: warning: cannot write \(out):") }
        #expect(warning != nil, "no warning; stderr: \(watcher.errors.allLines)")
        // A commit while the target is unwritable is one more failed attempt.
        try CLI.record(log: log, agent: "second", cli: "c")

        try FileManager.default.createDirectory(atPath: later, withIntermediateDirectories: false)
        let wrote = watcher.output.waitForLine { $0.hasPrefix("wrote \(out) ") }
        #expect(wrote == "wrote \(out) (2 streams, 2 measurements)", "printed \(watcher.output.allLines)")
        let recovered = watcher.errors.waitForLine { $0 == "perflog: \(out) can be written again" }
        #expect(recovered != nil, "stderr: \(watcher.errors.allLines)")
        #expect(FileManager.default.fileExists(atPath: out))

        #expect(watcher.stop(SIGINT) == 0)
        let warnings = watcher.errors.allLines.filter { $0.contains("warning") }
        #expect(warnings.count == 1, "one warning per failure streak, got \(warnings)")
    }

    @Test func watchWaitsForTheLogToAppear() throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("not-yet/log"), out = dir.file("out.json")
        let watcher = try RunningCLI(["project", "--watch", "--json", "--out", out, "--log", log])
        try CLI.record(log: log)
        // The watcher may find the log between its creation and the record's commit,
        // and write that empty projection first: the one that counts comes with the commit.
        let line = watcher.output.waitForLine { $0.contains("\"written\"") && !$0.contains("\"streams\":0") }
        #expect(line == "{\"path\":\"\(out)\",\"result\":\"written\",\"streams\":1,\"measurements\":1}",
                "printed \(watcher.output.allLines); stderr \(watcher.errors.allLines)")
        #expect(watcher.stop(SIGTERM) == 0)
    }

    @Test func forceAndWatchDoNotGoTogether() throws {
        let r = try CLI.run(["project", "--watch", "--force"])
        #expect(r.status == 64, "\(r)")
        #expect(r.stderrLines.count == 1)
    }
}
