import Foundation
import PerfLogTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A process that holds the log's write lock and is stopped: `perflog-stress
/// --hold-write` (built next to `perflog`) begins a write transaction, says `holding
/// PID`, and is then sent SIGSTOP. ``release()`` (or deinit) continues it and ends it
/// with SIGTERM, which abandons its transaction: it writes nothing.
final class HeldLog {
    let process = Process()
    let pid: Int32
    private let output: LineReader
    private let done = DispatchSemaphore(value: 0)
    private var released = false

    init(log: String) throws {
        let pipe = Pipe()
        process.executableURL = URL(fileURLWithPath: try StressTool.path())
        process.arguments = ["--log", log, "--events", "0", "--hold-write"]
        process.standardOutput = pipe
        process.standardInput = FileHandle.nullDevice
        let done = self.done
        process.terminationHandler = { _ in done.signal() }
        output = LineReader(pipe.fileHandleForReading)
        try process.run()
        try? pipe.fileHandleForWriting.close()
        guard let line = output.waitForLine(where: { $0.hasPrefix("holding ") }), let pid = Int32(line.dropFirst(8)) else {
            process.terminate()
            throw HeldLogFailure("perflog-stress --hold-write did not say it holds the log: \(output.allLines)")
        }
        #expect(pid == process.processIdentifier)
        self.pid = pid
        kill(pid, SIGSTOP)
    }

    /// Continues the holder and ends it (its transaction is abandoned); returns its status.
    @discardableResult
    func release() -> Int32 {
        if !released {
            released = true
            kill(pid, SIGCONT)
            kill(pid, SIGTERM)
        }
        if done.wait(timeout: .now() + CLI.timeout) == .timedOut {
            Issue.record("the holder did not end after SIGTERM")
            kill(pid, SIGKILL)
            done.wait()
        }
        return Program.status(of: process)
    }

    deinit {
        if process.isRunning { _ = release() }
    }
}

struct HeldLogFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

@Suite("a stopped process that holds the log", .timeLimit(.minutes(3)))
struct HeldLogTests {
    @Test("record --wait 2s exits 75 naming the holder; readers work meanwhile; after it ends nothing is lost and check passes")
    func recordGivesUp() throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("log")
        try CLI.record(log: log, agent: "before")
        let holder = try HeldLog(log: log)

        let started = Date()
        let r = try CLI.run(["record", "--agent", "a", "--cli", "c", "--duration", "5ms", "--wait", "2s", "--log", log])
        let elapsed = Date().timeIntervalSince(started)
        print("record --wait 2s against a stopped holder returned after \(String(format: "%.2f", elapsed)) s")
        #expect(r.status == 75, "\(r)")
        #expect(elapsed < 10, "bounded: it returned after \(elapsed) s")
        #expect(r.stderrLines.count == 1, "\(r)")
        #expect(r.stderr.contains("held by pid \(holder.pid)"), "\(r)")
        #expect(r.stderr.contains("stopped"), "\(r)")
        #expect(r.stderr.contains("nothing was written"), "\(r)")

        // The full parser's spelling, and a bare number (seconds).
        let joined = try CLI.run(["record", "--agent", "a", "--cli", "c", "--duration", "5ms", "--wait=0.2", "--log", log])
        #expect(joined.status == 75, "\(joined)")
        #expect(joined.stderr.contains("held by pid \(holder.pid)"), "\(joined)")

        // Readers do not take the write lock.
        for reader in [["tail", "--json"], ["stats"], ["info"], ["export", "--format", "ndjson"]] {
            let read = try CLI.run(reader + ["--log", log])
            #expect(read.status == 0, "\(reader): \(read)")
        }
        let tail = try CLI.run(["tail", "--json", "--log", log])
        #expect(tail.stdoutLines.count == 1, "\(tail)")

        #expect(holder.release() == 0)
        try CLI.record(log: log, agent: "after")
        let after = try CLI.run(["tail", "--json", "--log", log])
        #expect(after.stdoutLines.count == 2, "\(after)")
        #expect(after.stdout.contains("\"before\"") && after.stdout.contains("\"after\""), "\(after)")
        let check = try CLI.run(["check", "--log", log])
        #expect(check.status == 0, "\(check)")
    }

    @Test("exec --wait 2s runs its command at once and exits with its status; one warning says what was not recorded",
          arguments: [0, 3])
    func execRunsAtOnce(status: Int32) throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("log")
        try CLI.record(log: log)
        let holder = try HeldLog(log: log)
        let ran = dir.file("ran")
        let exec = try RunningCLI([
            "exec", "--agent", "a", "--cli", "c", "--wait", "2s", "--log", log, "--",
            "sh", "-c", "echo ran > '\(ran)'; exit \(status)",
        ])
        // Polling the file system for a file: there is no notification to wait on.
        eventually("the command ran", pollingEvery: 0.005) { FileManager.default.fileExists(atPath: ran) }
        let (code, stderr) = exec.wait()
        #expect(code == status, "\(stderr)")
        let lines = stderr.split(separator: "\n")
        #expect(lines.count == 1, "\(stderr)")
        #expect(stderr.contains("this run was not recorded") && stderr.contains("held by pid \(holder.pid)"), "\(stderr)")
        #expect(holder.process.isRunning, "the holder was still stopped while exec ran")

        holder.release()
        let tail = try CLI.run(["tail", "--json", "--log", log])
        #expect(tail.stdoutLines.count == 1, "nothing of the run was written: \(tail)")
        #expect(try CLI.run(["check", "--log", log]).status == 0)
    }

    @Test("SIGTERM sent to exec while it waits for the log reaches the command; exec exits with the command's status")
    func execPassesSignalsOn() throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("log")
        try CLI.record(log: log)
        let holder = try HeldLog(log: log)
        let ran = dir.file("ran"), got = dir.file("got")
        let exec = try RunningCLI([
            "exec", "--agent", "a", "--cli", "c", "--wait", "3s", "--log", log, "--",
            "sh", "-c", "trap 'echo term > \"\(got)\"; exit 7' TERM; echo ran > '\(ran)'; while :; do sleep 0.05; done",
        ])
        eventually("the command started", pollingEvery: 0.005) { FileManager.default.fileExists(atPath: ran) }
        // perflog is waiting for the log (its mark) while the command runs.
        #expect(exec.process.isRunning)
        exec.send(SIGTERM)
        // The command ends at once; perflog gives up on the stopped holder at the latest
        // --wait after the start (the mark) and after the end (the measure).
        let (code, stderr) = exec.wait()
        #expect(code == 7, "\(stderr)")
        #expect(FileManager.default.fileExists(atPath: got), "the command did not get SIGTERM")
        #expect(stderr.contains("held by pid \(holder.pid)"), "\(stderr)")
        holder.release()
    }

    @Test("once the holder is gone, exec records both ends again")
    func execRecordsAfterRelease() throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("log")
        try CLI.record(log: log)
        let holder = try HeldLog(log: log)
        #expect(holder.release() == 0)
        let r = try CLI.run(["exec", "--agent", "a", "--cli", "c", "--wait", "2s", "--log", log, "--", "true"])
        #expect(r.status == 0 && r.stderr.isEmpty, "\(r)")
        let tail = try CLI.run(["tail", "--json", "--log", log])
        #expect(tail.stdoutLines.count == 2, "a measure closes its mark: \(tail)")
    }

    @Test("--wait values: a bare number is seconds; huge, negative, NaN or unknown units are usage errors (64) on one line",
          arguments: ["1e20", "86401", "-1s", "nan", "5xs", "", "inf"])
    func waitValues(_ value: String) throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("log")
        for command in [["record", "--agent", "a", "--cli", "c", "--duration", "1ms"], ["compact"], ["info"],
                        ["exec", "--agent", "a", "--cli", "c"]] {
            var arguments = command + ["--log", log, "--wait", value]
            if command[0] == "exec" { arguments += ["--", "true"] }
            let r = try CLI.run(arguments)
            #expect(r.status == 64, "\(arguments): \(r)")
            #expect(r.stderrLines.count == 1 && r.stderr.contains("--wait"), "\(arguments): \(r)")
            #expect(!FileManager.default.fileExists(atPath: log), "\(arguments) created the log")
        }
    }
}
