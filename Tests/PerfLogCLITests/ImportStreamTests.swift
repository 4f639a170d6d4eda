import Foundation
import PerfLogTestSupport
import Testing

@Suite("import: large inputs stream, and an interrupted import completes")
struct ImportStreamCLITests {
    /// `count` measures over five streams in time order, so that with the default retain
    /// of 100 later chunks evict what earlier ones added; a mark closed by a later line.
    static func lines(_ count: Int) -> [String] {
        var lines = (0..<count).map { i in
            Synthetic.measure("agent-\(i % 5)", "claude", ms: "\(100 + i % 700).5", at: i, ok: i % 13 != 0, invocation: i + 1)
        }
        lines.insert(Synthetic.mark("agent-9", "claude", at: 150, invocation: 1_000_000), at: 150)
        lines.append(Synthetic.measure("agent-9", "claude", ms: "5", at: count + 1, invocation: 1_000_000))
        return lines
    }

    /// What the log holds, as the commands that read it print it.
    static func contents(_ log: String) throws -> [String] {
        try [["export", "--format", "ndjson"], ["stats", "--json"], ["tail", "-n", "100000", "--json"]].map { command in
            let r = try CLI.run(command + ["--log", log])
            #expect(r.status == 0, "\(r)")
            return r.stdout
        }
    }

    @Test func anImportKilledBetweenCommitsCompletesWhenRunAgainAsOneCleanImportWould() throws {
        let dir = try TemporaryDirectory()
        let file = dir.file("events.ndjson")
        try (Self.lines(2000).joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        let small = ["PERFLOG_TEST_IMPORT_EVENTS_PER_COMMIT": "100"]

        let clean = dir.file("clean")
        let first = try CLI.run(["import", file, "--log", clean], environment: small)
        #expect(first.status == 0, "\(first)")
        #expect(first.stdout.hasPrefix("\(file): read 2002, "), "\(first)")

        // The import stops itself after its fifth commit, once it has said so on
        // standard error; it is killed there.
        let crashed = dir.file("crashed")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CLI.binary)
        process.arguments = ["import", file, "--log", crashed]
        process.environment = CLI.environment(adding: small.merging(["PERFLOG_TEST_IMPORT_STOP_AFTER_COMMITS": "5"]) { _, b in b })
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        let done = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in done.signal() }
        let reader = LineReader(errors.fileHandleForReading)
        try process.run()
        try? errors.fileHandleForWriting.close()
        // Of the 2,002 events only those the rings keep are committed (retain 100 of each
        // stream's 400 measures, the mark and its measure).
        let said = reader.waitForLine { $0.contains("committed 500 of 502 events") }
        #expect(said != nil, "\(reader.allLines)")
        kill(process.processIdentifier, SIGKILL)
        #expect(done.wait(timeout: .now() + CLI.timeout) == .success)
        #expect(Program.status(of: process) == 128 + SIGKILL)
        let partial = try CLI.run(["export", "--format", "ndjson", "--log", crashed])
        #expect(partial.status == 0 && partial.stdoutLines.count == 500, "\(partial)")
        #expect(try CLI.run(["check", "--log", crashed]).status == 0)

        let rerun = try CLI.run(["import", file, "--log", crashed], environment: small)
        #expect(rerun.status == 0, "\(rerun)")
        #expect(try Self.contents(crashed) == Self.contents(clean))
        // And once more: nothing to add.
        let again = try CLI.run(["import", file, "--log", crashed], environment: small)
        #expect(again.stdout.contains("added 0, "), "\(again)")
        #expect(try Self.contents(crashed) == Self.contents(clean))
    }

    @Test func standardInputFromAPipeIsSpooledAndRemovedAndAFileLargerThanAChunkImports() throws {
        let dir = try TemporaryDirectory()
        let file = dir.file("events.ndjson"), spool = dir.file("tmp")
        try FileManager.default.createDirectory(atPath: spool, withIntermediateDirectories: true)
        // Well over a read chunk (1 MiB): lines cross its boundaries.
        let lines = Self.lines(12_000)
        try (lines.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        #expect((try FileManager.default.attributesOfItem(atPath: file)[.size] as? Int ?? 0) > 1 << 20)

        let fromFile = dir.file("from-file"), fromPipe = dir.file("from-pipe")
        let r = try CLI.run(["import", file, "--log", fromFile])
        #expect(r.status == 0, "\(r)")
        let quoted = { (s: String) in "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        let (status, output) = try runProgram("/bin/sh", ["-c", "cat \(quoted(file)) | TMPDIR=\(quoted(spool)) \(quoted(CLI.binary)) import - --log \(quoted(fromPipe))"])
        #expect(status == 0, "\(output)")
        #expect(output.hasPrefix("stdin: read 12002, "), "\(output)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: spool).isEmpty)
        #expect(try Self.contents(fromPipe) == Self.contents(fromFile))

        // An invalid last line of standard input: nothing committed, nothing left behind.
        let bad = dir.file("bad")
        let (badStatus, badOutput) = try runProgram(
            "/bin/sh", ["-c", "(cat \(quoted(file)); echo '{\"oops\":1}') | TMPDIR=\(quoted(spool)) \(quoted(CLI.binary)) import - --log \(quoted(bad))"])
        #expect(badStatus == 65, "\(badOutput)")
        #expect(badOutput == "perflog: stdin: line 12003: oops: is not a field of perflog's NDJSON (expected one of seq, time, kind, agent, cli, invocation, durationMs, outcome, exitCode, signal, pid, meta)\n")
        #expect(!FileManager.default.fileExists(atPath: bad))
        #expect(try FileManager.default.contentsOfDirectory(atPath: spool).isEmpty)
    }
}
