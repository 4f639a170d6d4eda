import Foundation
import PerfLogTestSupport
import Testing

@Suite("exec: runs a command, records it, exits with its status")
struct ExecTests {
    /// The last event of the log and its facts, after an exec.
    private func lastEvent(_ log: String) throws -> (event: [String: Any], inFlight: Int?, count: Int) {
        let tail = try CLI.run(["tail", "--json", "--log", log])
        #expect(tail.status == 0, "\(tail)")
        let info = try CLI.run(["info", "--json", "--log", log])
        let lines = tail.stdoutLines
        return (decodeObject(lines.last ?? "{}"), decodeObject(info.stdout)["inFlight"] as? Int, lines.count)
    }

    /// How one command ended: its script, perflog's status, and what the log and tail show.
    struct Ending: Sendable, CustomTestStringConvertible {
        var script: String
        var status: Int32
        var outcome: String
        var exitCode: Int?
        var signal: Int?
        var shown: String
        var testDescription: String { script }
    }

    @Test(arguments: [
        Ending(script: "exit 0", status: 0, outcome: "ok", exitCode: 0, signal: nil, shown: "ok"),
        Ending(script: "exit 1", status: 1, outcome: "failed", exitCode: 1, signal: nil, shown: "failed (exit 1)"),
        Ending(script: "exit 42", status: 42, outcome: "failed", exitCode: 42, signal: nil, shown: "failed (exit 42)"),
        // A real exit status of 137 stays one: it is not a signal.
        Ending(script: "exit 137", status: 137, outcome: "failed", exitCode: 137, signal: nil, shown: "failed (exit 137)"),
        // A signal is recorded as a signal (no exit code); perflog still exits 128+N.
        Ending(script: "kill -9 $$", status: 128 + 9, outcome: "failed", exitCode: nil, signal: 9, shown: "failed (killed by SIGKILL)"),
        Ending(script: "kill -TERM $$", status: 128 + 15, outcome: "failed", exitCode: nil, signal: 15,
               shown: "failed (killed by SIGTERM)"),
    ])
    func statusIsPassedOnAndRecorded(_ c: Ending) throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("log")
        let r = try CLI.run(["exec", "--agent", "runner", "--cli", "sh", "--log", log, "--", "sh", "-c", c.script])
        #expect(r.status == c.status, "\(r)")
        #expect(r.stderr.isEmpty, "\(r)")

        let (event, inFlight, count) = try lastEvent(log)
        #expect(count == 1, "the mark is closed by its measure")
        #expect(event["kind"] as? String == "measure")
        #expect(event["agent"] as? String == "runner")
        #expect(event["cli"] as? String == "sh")
        #expect(event["outcome"] as? String == c.outcome)
        #expect(event["exitCode"] as? Int == c.exitCode)
        #expect(event["signal"] as? Int == c.signal)
        #expect((event["durationMs"] as? Double ?? -1) >= 0)
        #expect(inFlight == 0)
        let tail = try CLI.run(["tail", "--log", log, "--color", "never"])
        #expect(tail.stdoutLines.last?.hasSuffix(c.shown) == true, "\(tail)")
    }

    @Test func markAndMeasureShareTheInvocation() throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("log")
        // The command itself looks at the log while it runs: its mark must be there.
        let r = try CLI.run([
            "exec", "--agent", "a", "--cli", "b", "--meta", "k=v", "--log", log, "--",
            CLI.binary, "tail", "--json", "--log", log,
        ])
        #expect(r.status == 0, "\(r)")
        let mark = decodeObject(r.stdout.trimmingCharacters(in: .newlines))
        #expect(mark["kind"] as? String == "mark")
        #expect(mark["durationMs"] == nil && mark["outcome"] == nil)
        #expect((mark["meta"] as? [String: String]) == ["k": "v"])

        let (measure, _, _) = try lastEvent(log)
        #expect(measure["invocation"] as? String == mark["invocation"] as? String)
        #expect(measure["pid"] as? Int == mark["pid"] as? Int)
        #expect((measure["seq"] as? Int ?? 0) > (mark["seq"] as? Int ?? 0))
    }

    @Test func commandSharesTheTerminalStreams() throws {
        let dir = try TemporaryDirectory()
        let r = try CLI.run([
            "exec", "--agent", "a", "--cli", "b", "--log", dir.file("log"), "--",
            "sh", "-c", "echo out; echo err >&2; echo \"$0 $1\"", "zero", "one two",
        ])
        #expect(r.status == 0)
        #expect(r.stdout == "out\nzero one two\n")
        #expect(r.stderr == "err\n")
    }

    @Test func commandThatCannotBeFoundExits127() throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("log")
        let r = try CLI.run(["exec", "--agent", "a", "--cli", "b", "--log", log, "--", "perflog-no-such-command-\(UUID().uuidString)"])
        #expect(r.status == 127, "\(r)")
        #expect(r.stderrLines.count == 1 && r.stderr.contains("command not found"), "\(r)")
        let (event, inFlight, _) = try lastEvent(log)
        #expect(event["outcome"] as? String == "failed")
        #expect(event["exitCode"] as? Int == 127)
        #expect(inFlight == 0)
    }

    @Test func commandThatCannotBeExecutedExits126() throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("log")
        let script = dir.file("not-executable.sh")
        try "#!/bin/sh\nexit 0\n".write(toFile: script, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: script)
        for target in [script, dir.path] {
            let r = try CLI.run(["exec", "--agent", "a", "--cli", "b", "--log", log, "--", target])
            #expect(r.status == 126, "\(r)")
            #expect(r.stderrLines.count == 1 && r.stderr.hasPrefix("perflog: \(target): "), "\(r)")
            let (event, inFlight, _) = try lastEvent(log)
            #expect(event["outcome"] as? String == "failed")
            #expect(event["exitCode"] as? Int == 126)
            #expect(inFlight == 0)
        }
    }

    @Test func commandRunsEvenWhenTheLogCannotBeWritten() throws {
        let dir = try TemporaryDirectory()
        let file = dir.file("plain-file")
        try "not a log".write(toFile: file, atomically: true, encoding: .utf8)
        let before = try Snapshot(file)
        let r = try CLI.run(["exec", "--agent", "a", "--cli", "b", "--log", file, "--", "sh", "-c", "echo ran; exit 3"])
        #expect(r.status == 3, "\(r)")
        #expect(r.stdout == "ran\n")
        #expect(r.stderrLines.count == 1 && r.stderr.hasPrefix("perflog: warning: "), "\(r)")
        #expect(try Snapshot(file) == before)
    }

    @Test func signalsSentToPerflogReachTheCommand() throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("log")
        let running = try RunningCLI([
            "exec", "--agent", "a", "--cli", "b", "--log", log, "--", "sh", "-c", "echo ready; exec sleep 30",
        ])
        let ready = running.output.waitForLine { $0 == "ready" }
        try #require(ready != nil, "the command never started")
        running.send(SIGTERM)
        let (status, stderr) = running.wait()
        #expect(status == 128 + 15, "\(stderr)")
        let (event, inFlight, _) = try lastEvent(log)
        #expect(event["outcome"] as? String == "failed")
        #expect(event["signal"] as? Int == 15 && event["exitCode"] == nil, "\(event)")
        #expect(inFlight == 0)
    }

    @Test(arguments: [SIGINT, SIGHUP])
    func otherSignalsSentToPerflogReachTheCommandToo(_ signal: Int32) throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("log")
        let running = try RunningCLI([
            "exec", "--agent", "a", "--cli", "b", "--log", log, "--", "sh", "-c", "echo ready; exec sleep 30",
        ])
        let ready = running.output.waitForLine { $0 == "ready" }
        try #require(ready != nil, "the command never started")
        running.send(signal)
        let (status, stderr) = running.wait()
        #expect(status == 128 + signal, "\(stderr)")
        let (event, inFlight, _) = try lastEvent(log)
        #expect(event["outcome"] as? String == "failed")
        #expect(event["signal"] as? Int == Int(signal) && event["exitCode"] == nil, "\(event)")
        #expect(inFlight == 0)
    }

    #if os(Linux)
    /// Whether process `pid` has ended: it no longer exists, or it is a zombie (dead,
    /// waiting for whoever inherited it to reap it), or the pid now belongs to another
    /// program than `name`.
    private func hasEnded(_ pid: Int32, name: String) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")")
        else { return true }
        let comm = stat[stat.index(after: open)..<close]
        let state = stat[stat.index(after: close)...].split(separator: " ").first
        return comm != name || state == "Z" || state == "X"
    }

    @Test("a perflog killed with SIGKILL takes its command with it")
    func commandDiesWithPerflog() throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("log")
        // The command prints its pid, then becomes sleep under that same pid.
        let running = try RunningCLI(["exec", "--agent", "a", "--cli", "b", "--log", log, "--", "sh", "-c", "echo $$; exec sleep 1000"])
        let line = try #require(running.output.waitForLine { Int32($0) != nil }, "the command never started")
        let child = try #require(Int32(line))
        // Once sleep has taken over the pid, the process that must die is the command itself.
        try #require(eventually("the command runs sleep", within: 30) {
            (try? String(contentsOfFile: "/proc/\(child)/comm", encoding: .utf8)) == "sleep\n"
        })
        #expect(!hasEnded(child, name: "sleep"))
        running.send(SIGKILL)
        let (status, _) = running.wait()
        #expect(status == 128 + 9)
        #expect(eventually("the command is gone after perflog was killed", within: 30) { hasEnded(child, name: "sleep") })
        if !hasEnded(child, name: "sleep") { kill(child, SIGKILL) }
    }

    /// The command starts clean whatever perflog inherited: no descriptors beyond the
    /// standard three, no blocked signals, no ignored ones.
    @Test func commandGetsOnlyTheStandardStreamsAndDefaultSignals() throws {
        let dir = try TemporaryDirectory()
        // The outer shell opens descriptor 7 and ignores SIGUSR1 and SIGPIPE, then becomes
        // perflog, which passes neither on.
        let script = """
            exec 7</dev/null; trap '' USR1 PIPE
            exec "$0" exec --agent a --cli b --log "$1" -- sh -c '
                [ -e /proc/self/fd/7 ] && echo "descriptor 7 is open"
                grep -E "^Sig(Blk|Ign):" /proc/self/status'
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", script, CLI.binary, dir.file("log")]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(output)")
        #expect(!output.contains("descriptor 7"), "\(output)")
        var masks: [String: UInt64] = [:]
        for line in output.split(separator: "\n") {
            let parts = line.split(separator: ":")
            if parts.count == 2 { masks[String(parts[0])] = UInt64(parts[1].trimmingCharacters(in: .whitespaces), radix: 16) }
        }
        #expect(masks["SigBlk"] == 0, "\(output)")
        let ignored = try #require(masks["SigIgn"], "\(output)")
        for signal in [SIGUSR1, SIGPIPE] {
            #expect(ignored & (1 << UInt64(signal - 1)) == 0, "signal \(signal) is still ignored: \(output)")
        }
    }
    #endif
}
