import Foundation
import PerfLogTestSupport
import Testing

/// A compaction stopped (SIGSTOP) or killed at a known step: `PERFLOG_COMPACT_PAUSE`
/// makes it print the step on stderr and wait for a line on stdin.
@Suite("Stopped compaction", .serialized)
struct StoppedCompactionTests {
    final class PausedCompact {
        let process = Process()
        let stderr: LineReader
        let input = Pipe()

        init(log: String, at step: String, extra: [String] = []) throws {
            let errors = Pipe()
            process.executableURL = URL(fileURLWithPath: CLI.binary)
            process.arguments = ["compact", "--log", log] + extra
            process.environment = CLI.environment(adding: ["PERFLOG_COMPACT_PAUSE": step])
            process.standardInput = input
            process.standardOutput = FileHandle.nullDevice
            process.standardError = errors
            stderr = LineReader(errors.fileHandleForReading)
            try process.run()
            try? errors.fileHandleForWriting.close()
        }

        func waitForStep(_ step: String) -> Bool { stderr.waitForLine { $0.contains("compact: \(step)") } != nil }
        func proceed() { input.fileHandleForWriting.write(Data("\n".utf8)) }
    }

    func seed(_ log: String, count: Int) throws {
        let lines = (0..<count).map { i in
            "{\"kind\":\"measure\",\"agent\":\"a\(i % 7)\",\"cli\":\"c\",\"invocation\":\"\(String(format: "%016x", i + 1))\",\"time\":\"2026-01-01T00:00:00Z\",\"durationMs\":\(i % 900 + 1),\"outcome\":\"ok\",\"exitCode\":0,\"pid\":1}"
        }
        let file = log + ".ndjson"
        try (lines.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        let r = try CLI.run(["import", file, "--log", log])
        #expect(r.status == 0, "\(r)")
    }

    @Test("a compaction stopped during its copy: tail, stats, info, record and exec all work; after SIGCONT it completes and nothing is lost")
    func stoppedDuringCopy() throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("log")
        try seed(log, count: 2_000)
        let before = try CLI.run(["tail", "-n", "5000", "--json", "--log", log]).stdoutLines.count
        let compact = try PausedCompact(log: log, at: "copying")
        #expect(compact.waitForStep("copying"))
        kill(compact.process.processIdentifier, SIGSTOP)
        for args in [["tail", "-n", "3"], ["stats"], ["info"]] {
            let r = try CLI.run(args + ["--log", log])
            #expect(r.status == 0, "\(args): \(r)")
        }
        try CLI.record(log: log, agent: "during", cli: "stop")
        let exec = try CLI.run(["exec", "--agent", "during", "--cli", "exec", "--log", log, "--", "/bin/sh", "-c", "exit 3"])
        #expect(exec.status == 3, "\(exec)")
        kill(compact.process.processIdentifier, SIGCONT)
        compact.proceed()
        compact.process.waitUntilExit()
        #expect(compact.process.terminationStatus == 0)
        let stats = try CLI.run(["stats", "--json", "--log", log])
        #expect(stats.stdout.contains("\"during\""), "\(stats)")
        let check = try CLI.run(["check", "--log", log])
        #expect(check.status == 0, "\(check)")
        let tail = try CLI.run(["tail", "-n", "5000", "--json", "--log", log])
        #expect(tail.stdoutLines.count == before + 2, "\(tail.stdoutLines.count)")
        #expect(!FileManager.default.fileExists(atPath: log + "/data.mdb.compact"))
    }

    @Test("a compaction killed with SIGKILL at each step: the log opens, checks clean, keeps every event, and the leftover copy goes at the next open",
          arguments: ["copying", "repairing"])
    func killedAtStep(step: String) throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("log")
        try seed(log, count: 3_000)
        let before = try CLI.run(["tail", "-n", "5000", "--json", "--log", log]).stdoutLines.count
        let compact = try PausedCompact(log: log, at: step)
        #expect(compact.waitForStep(step))
        try CLI.record(log: log, agent: "during", cli: step)
        kill(compact.process.processIdentifier, SIGKILL)
        compact.process.waitUntilExit()
        let check = try CLI.run(["check", "--log", log])
        #expect(check.status == 0, "\(check)")
        let tail = try CLI.run(["tail", "-n", "5000", "--json", "--log", log])
        #expect(tail.stdoutLines.count == before + 1, "\(tail.stdoutLines.count)")
        try CLI.record(log: log, agent: "after", cli: step)
        #expect(!FileManager.default.fileExists(atPath: log + "/data.mdb.compact"))
    }

    @Test("a repair while a compaction runs waits, then exits 75 naming the compaction's pid")
    func repairRefused() throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("log")
        try seed(log, count: 10)
        let compact = try PausedCompact(log: log, at: "copying")
        #expect(compact.waitForStep("copying"))
        let repair = try CLI.run(["check", "--repair", "--log", log])
        #expect(repair.status == 75, "\(repair)")
        #expect(repair.stderr.contains("a compaction is running (pid \(compact.process.processIdentifier))"), "\(repair)")
        compact.proceed()
        compact.process.waitUntilExit()
        #expect(compact.process.terminationStatus == 0)
    }
}
