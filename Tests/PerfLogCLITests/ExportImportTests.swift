import Foundation
import PerfLogTestSupport
import Testing

@Suite("export: raw events and summaries")
struct ExportTests {
    @Test func ndjsonIsTheTimelineAsTailPrintsIt() throws {
        let dir = try TemporaryDirectory()
        let log = try Synthetic.mixedLog(in: dir)
        let r = try CLI.run(["export", "--format", "ndjson", "--log", log])
        #expect(r.status == 0, "\(r)")
        #expect(r.stderr.isEmpty)
        let tail = try CLI.run(["tail", "-n", "1000", "--json", "--log", log])
        #expect(r.stdout == tail.stdout)
        #expect(r.stdoutLines.count == 40 + 25 + 3 + 5 + 2 + 1)

        let planner = try CLI.run(["export", "--format", "ndjson", "--agent", "planner", "--log", log])
        #expect(planner.stdoutLines.count == 40 + 25 + 1)
        #expect(planner.stdoutLines.allSatisfy { decodeObject($0)["agent"] as? String == "planner" })
        let one = try CLI.run(["export", "--format", "ndjson", "--agent", "planner", "--cli", "codex", "--log", log])
        #expect(one.stdoutLines.count == 25)
    }

    @Test func csvQuotesNamesWithCommasAndQuotes() throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("log")
        try CLI.record(log: log, agent: "we,ird\"name", cli: "plain", duration: "1.5ms", extra: ["--meta", "note=a,b"])
        try CLI.record(log: log, agent: "planner", cli: "claude", duration: "2s", extra: ["--exit-code", "3"])
        let r = try CLI.run(["export", "--format", "csv", "--log", log])
        #expect(r.status == 0, "\(r)")
        let records = r.stdout.components(separatedBy: "\r\n")
        #expect(records.count == 4 && records[3].isEmpty, "CR LF after every record: \(r.stdout.debugDescription)")
        #expect(records[0] == "seq,time,kind,agent,cli,invocation,durationMs,outcome,exitCode,pid,meta,signal")
        let first = records[1]
        #expect(first.contains(",measure,\"we,ird\"\"name\",plain,"), "\(first)")
        #expect(first.contains(",1.5,ok,"), "\(first)")
        // meta, then an empty signal.
        #expect(first.hasSuffix(",\"{\"\"note\"\":\"\"a,b\"\"}\","), "\(first)")
        #expect(records[2].contains(",measure,planner,claude,") && records[2].contains(",2000,failed,3,"), "\(records[2])")
    }

    @Test func seedIsTheOldFlatArray() throws {
        let dir = try TemporaryDirectory()
        let log = try Synthetic.mixedLog(in: dir)
        let r = try CLI.run(["export", "--format", "seed", "--agent", "reviewer", "--log", log])
        #expect(r.status == 0, "\(r)")
        let array = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]])
        #expect(array.count == 3)
        #expect(array.map { $0["duration"] as? Double } == [0.001, 10_000_000, 55.5])
        #expect(array.allSatisfy { Set($0.keys) == ["agent", "cli", "duration", "timestamp", "success"] })
    }

    @Test func jsonIsAgentPerformanceJSONAndFilters() throws {
        let dir = try TemporaryDirectory()
        let log = try Synthetic.mixedLog(in: dir)
        let out = dir.file("agent-performance.json")
        #expect(try CLI.run(["project", "--out", out, "--log", log]).status == 0)
        let all = try CLI.run(["export", "--format", "json", "--log", log])
        #expect(all.status == 0, "\(all)")
        #expect(all.stdout == (try String(contentsOfFile: out, encoding: .utf8)))

        let planner = try CLI.run(["export", "--format", "json", "--agent", "planner", "--log", log])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(planner.stdout.utf8)) as? [String: Any])
        let streams = try #require(object["streams"] as? [[String: Any]])
        #expect(streams.compactMap { $0["cli"] as? String } == ["claude", "codex"])
        #expect((object["measurements"] as? [Any])?.count == 65)
        #expect((object["comparisons"] as? [[String: Any]])?.first?["fastestCli"] as? String == "codex")
    }

    @Test func markdownIsAReport() throws {
        let dir = try TemporaryDirectory()
        let log = try Synthetic.mixedLog(in: dir)
        let r = try CLI.run(["export", "--format", "markdown", "--log", log])
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout.hasPrefix("# Agent performance\n"))
        #expect(r.stdout.contains("| planner | claude | 40 | 4 | 1 |"), "\(r.stdout)")
        #expect(r.stdout.contains("| mean (ms) |") && r.stdout.contains("| p95 (ms) |") && r.stdout.contains("| relative |"))
        // codex (mean 742.5 ms) is planner's fastest; claude (839.75 ms) 1.13 times slower.
        let rows = r.stdout.split(separator: "\n")
        #expect(rows.contains { $0.hasPrefix("| planner | codex |") && $0.hasSuffix("| 1.00× |") }, "\(r.stdout)")
        #expect(rows.contains { $0.hasPrefix("| planner | claude |") && $0.hasSuffix("| 1.13× |") }, "\(r.stdout)")
        #expect(r.stdout.contains("## planner"))
    }

    @Test func openMetricsParsesWithPrometheusParsers() throws {
        let dir = try TemporaryDirectory()
        let log = try Synthetic.mixedLog(in: dir)
        // Where node_exporter's textfile collector would look, written atomically.
        let textfile = dir.file("textfile")
        try FileManager.default.createDirectory(atPath: textfile, withIntermediateDirectories: false)
        let prom = textfile + "/perflog.prom"
        let r = try CLI.run(["export", "--format", "openmetrics", "--label", "log=mixed", "--out", prom, "--log", log])
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout.isEmpty && r.stderr.isEmpty, "\(r)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: textfile) == ["perflog.prom"], "no temporary file left")
        let text = try String(contentsOfFile: prom, encoding: .utf8)

        // prometheus_client's OpenMetrics parser must accept it. A missing
        // prometheus_client fails the test: tools/setup installs it.
        let script = """
            import sys
            from prometheus_client.openmetrics.parser import text_string_to_metric_families as om
            from prometheus_client.parser import text_string_to_metric_families as classic
            families = {f.name: f for f in (om if sys.argv[1] == "openmetrics" else classic)(sys.stdin.read())}
            h = families["perflog_invocation_duration_seconds"]
            assert h.type == "histogram", h.type
            for x in h.samples:
                if x.name.endswith("_count"):
                    print("count", x.labels["log"], x.labels["agent"], x.labels["cli"], int(x.value))
            for x in families["perflog_window_failures"].samples:
                print("failures", x.labels["agent"], x.labels["cli"], int(x.value))
            print("families", len(families))
            """
        // The classic format, for the textfile collector (which reads only that), the same.
        let classic = try CLI.run(["export", "--format", "prometheus", "--label", "log=mixed", "--log", log])
        #expect(classic.status == 0, "\(classic)")
        for (format, body) in [("openmetrics", text), ("prometheus", classic.stdout)] {
            let (status, output) = try runProgram("/usr/bin/env", ["python3", "-c", script, format], input: body)
            #expect(status == 0, "\(output)\n\(body)")
            let lines = Set(output.split(separator: "\n").map(String.init))
            #expect(lines.contains("families 8"), "\(output)")
            #expect(lines.contains("count mixed planner claude 36"), "\(output)")
            #expect(lines.contains("count mixed we,ird\"name crème 5"), "\(output)")
            #expect(lines.contains("failures tester broken 2"), "\(output)")
        }
    }

    @Test func outReplacesAFileAtomicallyAndFailuresLeaveItAlone() throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("log")
        try CLI.record(log: log)
        let out = dir.file("events.ndjson")
        try "old content\n".write(toFile: out, atomically: true, encoding: .utf8)
        let r = try CLI.run(["export", "--format", "ndjson", "--out", out, "--log", log])
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout.isEmpty)
        let tail = try CLI.run(["tail", "--json", "--log", log])
        #expect(try String(contentsOfFile: out, encoding: .utf8) == tail.stdout)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == ["events.ndjson", "log"])

        let nowhere = dir.file("missing/events.csv")
        let failed = try CLI.run(["export", "--format", "csv", "--out", nowhere, "--log", log])
        #expect(failed.status == 73, "\(failed)")
        #expect(failed.stderrLines.count == 1 && failed.stderr.hasPrefix("perflog: cannot write \(nowhere):"), "\(failed)")

        let missingLog = try CLI.run(["export", "--format", "csv", "--out", out, "--log", dir.file("nolog")])
        #expect(missingLog.status == 66, "\(missingLog)")
        #expect(try String(contentsOfFile: out, encoding: .utf8) == tail.stdout, "a failed export changed the file")
        #expect(!FileManager.default.fileExists(atPath: dir.file("nolog")))

        let badFormat = try CLI.run(["export", "--format", "xml", "--log", log])
        #expect(badFormat.status == 64, "\(badFormat)")
    }
}

@Suite("import: NDJSON and the old array, idempotently")
struct ImportTests {
    static func events(count: Int) -> [String] {
        var lines = (0..<count).map { i in
            Synthetic.measure(i % 3 == 0 ? "planner" : "coder", i % 2 == 0 ? "claude" : "codex",
                              ms: "\(100 + i).25", at: i, ok: i % 11 != 10, invocation: i + 1)
        }
        lines.append(Synthetic.mark("planner", "claude", at: count + 5, invocation: 100_000))
        return lines
    }

    @Test func importingTwiceAddsNothingTheSecondTime() throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("log"), file = dir.file("events.ndjson")
        try (Self.events(count: 150).joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)

        let first = try CLI.run(["import", file, "--log", log])
        #expect(first.status == 0, "\(first)")
        #expect(first.stdout == "\(file): read 151, added 151, already present 0, outside the window 0\n")
        let before = try CLI.run(["tail", "-n", "1000", "--json", "--log", log]).stdout

        let second = try CLI.run(["import", file, "--json", "--log", log])
        #expect(second.status == 0, "\(second)")
        let counts = decodeObject(second.stdout.trimmingCharacters(in: .newlines))
        #expect(counts["file"] as? String == file)
        #expect(counts["read"] as? Int == 151)
        #expect(counts["added"] as? Int == 0)
        #expect(counts["alreadyPresent"] as? Int == 151)
        #expect(counts["outsideWindow"] as? Int == 0)
        #expect(counts["invalid"] as? Int == 0)
        #expect(try CLI.run(["tail", "-n", "1000", "--json", "--log", log]).stdout == before)
    }

    @Test("a signal survives export → import → export, in NDJSON and CSV; a bad one stops the import with 65")
    func signalsRoundTrip() throws {
        let dir = try TemporaryDirectory()
        let first = dir.file("first"), second = dir.file("second")
        try CLI.record(log: first, agent: "a", cli: "b", duration: "1s", extra: ["--signal", "TERM"])
        _ = try CLI.run(["exec", "--agent", "a", "--cli", "b", "--log", first, "--", "sh", "-c", "kill -KILL $$"])
        try CLI.record(log: first, agent: "a", cli: "b", duration: "1s", extra: ["--exit-code", "137"])
        let exported = try CLI.run(["export", "--format", "ndjson", "--log", first])
        #expect(exported.stdoutLines.filter { $0.contains(#""signal":15,"#) }.count == 1, "\(exported)")
        #expect(exported.stdoutLines.filter { $0.contains(#""signal":9,"#) }.count == 1, "\(exported)")
        #expect(exported.stdoutLines.filter { $0.contains(#""exitCode":137,"#) && !$0.contains("signal") }.count == 1)

        let file = dir.file("events.ndjson")
        try exported.stdout.write(toFile: file, atomically: true, encoding: .utf8)
        let imported = try CLI.run(["import", file, "--log", second])
        #expect(imported.status == 0, "\(imported)")
        let again = try CLI.run(["export", "--format", "ndjson", "--log", second])
        // Only seq may differ: the importing log numbers its own.
        func unsequenced(_ text: String) -> String { text.replacing(/"seq":\d+,/, with: "") }
        #expect(unsequenced(again.stdout) == unsequenced(exported.stdout), "\(again.stdout)")
        let csv = try CLI.run(["export", "--format", "csv", "--log", second]).stdout.components(separatedBy: "\r\n")
        #expect(csv.filter { $0.hasSuffix(",15") || $0.hasSuffix(",9") }.count == 2, "\(csv)")

        let bad = dir.file("bad.ndjson")
        try (exported.stdoutLines[0].replacingOccurrences(of: #""signal":15"#, with: #""signal":99"#) + "\n")
            .write(toFile: bad, atomically: true, encoding: .utf8)
        let refused = try CLI.run(["import", bad, "--log", dir.file("third")])
        #expect(refused.status == 65, "\(refused)")
        #expect(refused.stderr.hasPrefix("perflog: \(bad): line 1: signal: must be a signal number"), "\(refused)")
    }

    @Test func aMalformedLineExits65NamingItAndCommitsNothingOfThatFile() throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("log")
        let good = dir.file("good.ndjson"), bad = dir.file("bad.ndjson")
        try (Synthetic.measure("a", "b", ms: "5", at: 1, invocation: 1) + "\n").write(toFile: good, atomically: true, encoding: .utf8)
        let lines = [
            Synthetic.measure("a", "b", ms: "6", at: 2, invocation: 2),
            Synthetic.measure("a", "b", ms: "7", at: 3, invocation: 3),
            Synthetic.measure("a", "b", ms: "-8", at: 4, invocation: 4),
            Synthetic.measure("a", "b", ms: "9", at: 5, invocation: 5),
        ]
        try (lines.joined(separator: "\n") + "\n").write(toFile: bad, atomically: true, encoding: .utf8)

        // A bad file alone creates no log.
        let alone = try CLI.run(["import", bad, "--log", log])
        #expect(alone.status == 65, "\(alone)")
        #expect(alone.stderrLines.count == 1)
        #expect(alone.stderr.hasPrefix("perflog: \(bad): line 3: durationMs: "), "\(alone)")
        #expect(!FileManager.default.fileExists(atPath: log))

        // After a good file: the good one stays committed, nothing of the bad one is.
        let both = try CLI.run(["import", good, bad, "--log", log])
        #expect(both.status == 65, "\(both)")
        #expect(both.stdout == "\(good): read 1, added 1, already present 0, outside the window 0\n")
        #expect(both.stderr.hasPrefix("perflog: \(bad): line 3: durationMs: "), "\(both)")
        let tail = try CLI.run(["tail", "--json", "--log", log])
        #expect(tail.stdoutLines.count == 1 && tail.stdout.contains("\"durationMs\":5,"), "\(tail)")

        let skipped = try CLI.run(["import", bad, "--skip-invalid", "--log", log])
        #expect(skipped.status == 0, "\(skipped)")
        #expect(skipped.stdout == "\(bad): read 3, added 3, already present 0, outside the window 0, invalid 1\n")
        #expect(skipped.stderrLines.count == 1, "\(skipped)")
        #expect(skipped.stderr.hasPrefix("perflog: warning: \(bad): skipped line 3: durationMs: "), "\(skipped)")
        #expect(try CLI.run(["tail", "--json", "--log", log]).stdoutLines.count == 4)
    }

    @Test func everyFileIsCheckedBeforeAnythingIsImported() throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("log"), good = dir.file("good.ndjson")
        try (Synthetic.measure("a", "b", ms: "5", at: 1, invocation: 1) + "\n").write(toFile: good, atomically: true, encoding: .utf8)
        let r = try CLI.run(["import", good, dir.file("typo.ndjson"), "--log", log])
        #expect(r.status == 66, "\(r)")
        #expect(r.stderr.hasPrefix("perflog: \(dir.file("typo.ndjson")): cannot read: No such file or directory"), "\(r)")
        #expect(!FileManager.default.fileExists(atPath: log), "the first file was imported")

        let twice = try CLI.run(["import", "-", "-", "--log", log])
        #expect(twice.status == 64, "\(twice)")
        let none = try CLI.run(["import", "--log", log])
        #expect(none.status == 64, "\(none)")
    }

    @Test func readsStandardInputAndTheOldFlatArray() throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("log"), seed = dir.file("seed.json")
        try """
            [{"agent":"planner","cli":"claude","duration":812.4,"timestamp":"2026-01-19T20:50:24.123Z","success":true},
             {"agent":"planner","cli":"claude","duration":90,"timestamp":"2026-01-19T20:51:00.000Z","success":false,"extra":1}]
            """.write(toFile: seed, atomically: true, encoding: .utf8)
        let r = try runCLI(["import", "-", "--log", log], stdin: seed)
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout == "stdin: read 2, added 2, already present 0, outside the window 0\n", "\(r)")
        let again = try runCLI(["import", "-", "--log", log], stdin: seed)
        #expect(again.stdout == "stdin: read 2, added 0, already present 2, outside the window 0\n", "\(again)")
        let stats = decodeObject(arrayLines(try CLI.run(["stats", "--json", "--log", log]).stdout).first ?? "")
        #expect(stats["count"] as? Int == 2)
        #expect(stats["failures"] as? Int == 1)
        #expect(stats["meanMs"] as? Double == 812.4)
    }

    @Test func exportThenImportIntoANewLogGivesTheSameStatistics() throws {
        let dir = try TemporaryDirectory()
        let original = try Synthetic.mixedLog(in: dir)
        // Recorded events too, with metadata and exit codes, not only imported ones.
        try CLI.record(log: original, agent: "planner", cli: "codex", duration: "650.5ms", extra: ["--meta", "model=o3"])
        try CLI.record(log: original, agent: "tester", cli: "broken", duration: "3s", extra: ["--exit-code", "2"])
        let exported = dir.file("events.ndjson")
        #expect(try CLI.run(["export", "--format", "ndjson", "--out", exported, "--log", original]).status == 0)

        let copy = dir.file("copy")
        let imported = try CLI.run(["import", exported, "--log", copy])
        #expect(imported.status == 0, "\(imported)")
        #expect(imported.stdout.hasSuffix("added 78, already present 0, outside the window 0\n"), "\(imported)")

        let a = try CLI.run(["stats", "--json", "--log", original]), b = try CLI.run(["stats", "--json", "--log", copy])
        #expect(a.status == 0 && b.status == 0)
        #expect(arrayLines(a.stdout).count == 5)
        #expect(a.stdout == b.stdout)
        for agent in ["planner", "reviewer", "tester"] {
            let ca = try CLI.run(["compare", "--agent", agent, "--json", "--log", original])
            let cb = try CLI.run(["compare", "--agent", agent, "--json", "--log", copy])
            #expect(ca.status == 0 && ca.stdout == cb.stdout, "\(agent): \(ca) vs \(cb)")
        }
        #expect(try CLI.run(["export", "--format", "ndjson", "--log", copy]).stdoutLines.count == 78)
    }
}
