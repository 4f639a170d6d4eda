import Foundation
import PerfLogTestSupport
import Testing

/// `project` replaces only files perflog wrote: the old tracker's file is kept until it
/// is imported or `--force` is given; `--format seed` writes the old array for readers
/// that still expect it.
@Suite("project: never replaces a file it did not write")
struct ProjectOwnershipTests {
    static let oldTrackerFile = "[\n  {\n    \"agent\": \"planner\",\n    \"cli\": \"claude\",\n    \"duration\": 812.4,\n    \"timestamp\": 1768855824123\n  }\n]"

    @Test("the old tracker's flat array (or any other file) is refused with 73 and kept; --force replaces it")
    func foreignFileIsRefused() throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("log"), out = dir.file("agent-performance.json")
        try CLI.record(log: log, duration: "5ms")
        for foreign in [Self.oldTrackerFile, "{\"mine\": true}\n"] {
            try foreign.write(toFile: out, atomically: false, encoding: .utf8)
            let r = try CLI.run(["project", "--out", out, "--log", log])
            #expect(r.status == 73, "\(r)")
            #expect(r.stderr == "perflog: \(out) was not written by perflog (the old tracker's file?); it was left untouched: keep its history with `perflog import \(out)` first, or pass --force to replace it\n", "\(r.stderr)")
            #expect(try String(contentsOfFile: out, encoding: .utf8) == foreign)
        }
        try Self.oldTrackerFile.write(toFile: out, atomically: false, encoding: .utf8)
        #expect(try CLI.run(["import", out, "--log", log]).status == 0)
        let forced = try CLI.run(["project", "--force", "--out", out, "--log", log])
        #expect(forced.status == 0, "\(forced)")
        let text = try String(contentsOfFile: out, encoding: .utf8)
        #expect(text.hasPrefix("{\n  \"schemaVersion\": 1,") && text.contains("\"duration\": 812.4"), "\(text)")
        // Its own file it replaces without being asked.
        try CLI.record(log: log, duration: "6ms")
        #expect(try CLI.run(["project", "--out", out, "--log", log]).status == 0)
    }

    @Test("--format seed writes the old array; perflog knows it as its own afterwards, in either format")
    func seedFileIsPerflogs() throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("log"), out = dir.file("agent-performance.json")
        try CLI.record(log: log, duration: "5ms")
        let seed = try CLI.run(["project", "--format", "seed", "--out", out, "--log", log])
        #expect(seed.status == 0, "\(seed)")
        let exported = try CLI.run(["export", "--format", "seed", "--log", log]).stdout
        #expect(try String(contentsOfFile: out, encoding: .utf8) == exported)
        try CLI.record(log: log, duration: "7ms")
        #expect(try CLI.run(["project", "--format", "seed", "--out", out, "--log", log]).status == 0)
        #expect(try String(contentsOfFile: out, encoding: .utf8).contains("\"duration\":7,"))
        let json = try CLI.run(["project", "--out", out, "--log", log])
        #expect(json.status == 0, "\(json)")
        #expect(try String(contentsOfFile: out, encoding: .utf8).hasPrefix("{\n  \"schemaVersion\": 1,"))
    }

    @Test("import reads perflog's own agent-performance.json (its measurements) into another log, once")
    func importReadsTheProjection() throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("log"), other = dir.file("other"), out = dir.file("agent-performance.json")
        for (ms, failed) in [("5ms", []), ("7ms", ["--failed"]), ("9ms", [])] {
            #expect(try CLI.run(["record", "--agent", "planner", "--cli", "claude", "--duration", ms, "--log", log] + failed).status == 0)
        }
        #expect(try CLI.run(["record", "--agent", "coder", "--cli", "codex", "--duration", "1s", "--log", log]).status == 0)
        #expect(try CLI.run(["project", "--out", out, "--log", log]).status == 0)
        let first = try CLI.run(["import", out, "--json", "--log", other])
        #expect(first.status == 0 && first.stdout.contains("\"read\":4,\"added\":4,"), "\(first)")
        let again = try CLI.run(["import", out, "--json", "--log", other])
        #expect(again.stdout.contains("\"read\":4,\"added\":0,\"alreadyPresent\":4"), "\(again)")
        func figures(_ log: String) throws -> String {
            try CLI.run(["stats", "--json", "--log", log]).stdout
                .replacingOccurrences(of: #""inFlight":\s*\d+"#, with: "", options: .regularExpression)
        }
        #expect(try figures(other) == figures(log))
    }
}
