import Foundation
import PerfLogTestSupport
import Testing

/// The NDJSON shape from DESIGN.md, with the values that vary per run as patterns.
private func ndjsonPattern(
    seq: Int, kind: String = "measure", agent: String, cli: String, durationMs: String?, outcome: String?,
    exitCode: Int? = nil, meta: String? = nil
) throws -> Regex<Substring> {
    var p = #"^\{"seq":\#(seq),"time":"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z","kind":"\#(kind)","agent":"\#(agent)","cli":"\#(cli)","invocation":"[0-9a-f]{16}""#
    if let durationMs { p += #","durationMs":\#(NSRegularExpression.escapedPattern(for: durationMs))"# }
    if let outcome { p += #","outcome":"\#(outcome)""# }
    if let exitCode { p += #","exitCode":\#(exitCode)"# }
    p += #","pid":\d+"#
    if let meta { p += #","meta":\#(NSRegularExpression.escapedPattern(for: meta))"# }
    p += #"\}$"#
    return try Regex<Substring>(p)
}

@Suite("record, then tail")
struct RecordTailTests {
    @Test func tailJSONShowsExactlyTheRecordedLine() throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("log")
        let recorded = try CLI.record(
            log: log, duration: "812.413ms", extra: ["--exit-code", "3", "--meta", "model=opus", "--meta", "effort=high"])
        #expect(recorded.wholeMatch(of: try ndjsonPattern(
            seq: 1, agent: "planner", cli: "claude", durationMs: "812.413", outcome: "failed", exitCode: 3,
            meta: #"{"effort":"high","model":"opus"}"#)) != nil, "\(recorded)")

        let tail = try CLI.run(["tail", "--json", "--log", log])
        #expect(tail.status == 0, "\(tail)")
        #expect(tail.stdoutLines == [recorded])
        #expect(tail.stderr.isEmpty)
    }

    @Test func recordPrintsNothingWithoutJSON() throws {
        let dir = try TemporaryDirectory()
        let r = try CLI.run(["record", "--agent", "a", "--cli", "b", "--duration", "5", "--log", dir.file("log")])
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout.isEmpty && r.stderr.isEmpty)
    }

    @Test func okMeasureHasNoExitCodeUnlessGiven() throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("log")
        let plain = try CLI.record(log: log, duration: "1s")
        #expect(plain.wholeMatch(of: try ndjsonPattern(seq: 1, agent: "planner", cli: "claude", durationMs: "1000", outcome: "ok")) != nil, "\(plain)")
        let zero = try CLI.record(log: log, duration: "1s", extra: ["--exit-code", "0"])
        #expect(zero.wholeMatch(of: try ndjsonPattern(seq: 2, agent: "planner", cli: "claude", durationMs: "1000", outcome: "ok", exitCode: 0)) != nil, "\(zero)")
        let failed = try CLI.record(log: log, duration: "1s", extra: ["--failed"])
        #expect(failed.wholeMatch(of: try ndjsonPattern(seq: 3, agent: "planner", cli: "claude", durationMs: "1000", outcome: "failed")) != nil, "\(failed)")
    }

    @Test("record --signal takes a number or a name, records a failed measure without an exit code, and tail names it",
          arguments: [
              ("9", 9, "failed (killed by SIGKILL)"), ("KILL", 9, "failed (killed by SIGKILL)"),
              ("SIGKILL", 9, "failed (killed by SIGKILL)"), ("sigterm", 15, "failed (killed by SIGTERM)"),
              ("SEGV", Int(SIGSEGV), "failed (killed by SIGSEGV)"), ("1", 1, "failed (killed by SIGHUP)"),
              ("40", 40, "failed (killed by signal 40)"), ("64", 64, "failed (killed by signal 64)"),
          ] as [(String, Int, String)])
    func recordSignal(typed: String, number: Int, shown: String) throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("log")
        let line = try CLI.record(log: log, duration: "2s", extra: ["--signal", typed])
        #expect(line.contains(#""outcome":"failed","signal":\#(number),"pid":"#), "\(line)")
        #expect(!line.contains("exitCode"), "\(line)")
        let tail = try CLI.run(["tail", "--log", log, "--color", "never"])
        #expect(tail.status == 0, "\(tail)")
        #expect(tail.stdoutLines.last?.hasSuffix(shown) == true, "\(tail)")
    }

    @Test("record --signal refuses what is not a signal (65) and --exit-code beside it (64), writing nothing",
          arguments: [
              (["--signal", "0"], Int32(65)), (["--signal", "65"], 65), (["--signal", "-9"], 65), (["--signal", "WINCH"], 65),
              (["--signal", "SIG"], 65), (["--signal", "9.0"], 65), (["--signal", ""], 65),
              (["--signal", "9", "--exit-code", "137"], 64), (["--exit-code", "0", "--signal", "KILL"], 64),
          ] as [([String], Int32)])
    func recordBadSignal(extra: [String], status: Int32) throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("log")
        let r = try CLI.run(["record", "--agent", "a", "--cli", "c", "--duration", "1s", "--log", log] + extra)
        #expect(r.status == status, "\(r)")
        #expect(r.stderrLines.count == 1 && r.stderr.contains("signal"), "\(r)")
        #expect(!FileManager.default.fileExists(atPath: log), "nothing is written")
    }

    @Test(arguments: [
        ("812.4ms", "812.4"), ("812.4", "812.4"), ("1.5s", "1500"), ("250us", "0.25"), ("250µs", "0.25"),
        ("100ns", "0"), ("1500 ns", "0.002"), ("1e3ms", "1000"), ("0", "0"), (" 7 ms ", "7"),
    ] as [(String, String)])
    func durationUnits(typed: String, durationMs: String) throws {
        let dir = try TemporaryDirectory()
        let line = try CLI.record(log: dir.file("log"), duration: typed)
        #expect(decodeObject(line)["durationMs"] as? NSNumber == NSNumber(value: Double(durationMs) ?? -1), "\(line)")
        #expect(line.contains(#""durationMs":\#(durationMs),"#), "\(line)")
    }

    @Test func tailShowsTheNewestInCommitOrderAndFilters() throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("log")
        for i in 1...5 { try CLI.record(log: log, agent: "a\(i % 2)", cli: "c", duration: "\(i)ms") }

        let last3 = try CLI.run(["tail", "-n", "3", "--json", "--log", log])
        #expect(last3.stdoutLines.map { decodeObject($0)["seq"] as? Int } == [3, 4, 5], "\(last3)")

        let agent1 = try CLI.run(["tail", "--agent", "a1", "--json", "--log", log])
        #expect(agent1.stdoutLines.map { decodeObject($0)["seq"] as? Int } == [1, 3, 5], "\(agent1)")

        let none = try CLI.run(["tail", "--cli", "other", "--json", "--log", log])
        #expect(none.status == 0 && none.stdout.isEmpty, "\(none)")
    }

    @Test func humanTailHasAlignedColumnsInUTC() throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("log")
        try CLI.record(log: log, agent: "planner", cli: "claude", duration: "812.4ms")
        try CLI.record(log: log, agent: "x", cli: "codex-long-name", duration: "2.5s", extra: ["--exit-code", "1"])
        let r = try CLI.run(["tail", "--log", log])
        #expect(r.status == 0, "\(r)")
        let lines = r.stdoutLines
        try #require(lines.count == 3, "\(r)")
        #expect(lines[0].hasPrefix("TIME (UTC)"))
        #expect(lines[1].contains("planner") && lines[1].contains("812.4 ms") && lines[1].hasSuffix("ok"), "\(lines[1])")
        #expect(lines[2].contains("2.50 s") && lines[2].hasSuffix("failed (exit 1)"), "\(lines[2])")
        #expect(lines[1].wholeMatch(of: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z .*/) != nil)
        // Each value starts where its column's header does; a CLI name longer than its
        // column (12) is cut.
        let expected: [(String, [String])] = [
            ("AGENT", ["planner", "x"]), ("CLI ", ["claude", "codex-long-…"]), ("KIND", ["measure", "measure"]),
            ("OUTCOME", ["ok", "failed (exit 1)"]),
        ]
        for (header, values) in expected {
            let offset = try #require(lines[0].range(of: header)).lowerBound.utf16Offset(in: lines[0])
            for (line, value) in zip(lines.dropFirst(), values) {
                let start = String.Index(utf16Offset: offset, in: line)
                #expect(line[start...].hasPrefix(value), "column \(header) misaligned in \(line)")
                #expect(line[line.index(before: start)] == " ", "column \(header) misaligned in \(line)")
            }
        }
    }

    @Test func logComesFromTheEnvironmentOrTheDefaultPath() throws {
        let dir = try TemporaryDirectory()
        let viaEnv = try CLI.run(
            ["record", "--agent", "a", "--cli", "b", "--duration", "1"], environment: ["PERFLOG_LOG": dir.file("env-log")])
        #expect(viaEnv.status == 0, "\(viaEnv)")
        #expect(FileManager.default.fileExists(atPath: dir.file("env-log/data.mdb")))

        let viaDefault = try CLI.run(["record", "--agent", "a", "--cli", "b", "--duration", "1"], in: dir.path)
        #expect(viaDefault.status == 0, "\(viaDefault)")
        #expect(FileManager.default.fileExists(atPath: dir.file(".planning/metrics/perflog/data.mdb")))
        let tail = try CLI.run(["tail", "--json"], in: dir.path)
        #expect(tail.stdoutLines.count == 1, "\(tail)")
    }
}
