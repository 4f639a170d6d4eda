import Foundation
import PerfLogTestSupport
import Testing

@Suite("report: the HTML report as a user writes it")
struct ReportTests {
    @Test("default path beside the log, the line it prints, --json, --out -; private like the log (no access for others)")
    func writesTheFile() throws {
        let dir = try TemporaryDirectory()
        let log = try Synthetic.mixedLog(in: dir)
        let r = try CLI.run(["report", "--log", log])
        #expect(r.status == 0, "\(r)")
        let file = dir.file("perflog-report.html")
        let html = try String(contentsOfFile: file, encoding: .utf8)
        #expect(html.hasPrefix("<!doctype html>") && html.hasSuffix("</html>\n"))
        #expect(r.stdout.hasPrefix("wrote \(file) (5 streams, 75 measures, "), "\(r.stdout)")
        #expect(r.stderr.isEmpty)
        let mode = try #require(FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int)
        #expect(mode & 0o077 == 0, "mode \(String(mode, radix: 8))")

        let out = dir.file("r.html")
        let json = try CLI.run(["report", "--log", log, "--out", out, "--json"])
        #expect(json.status == 0, "\(json)")
        let object = decodeObject(json.stdout)
        #expect(object["path"] as? String == out && object["streams"] as? Int == 5 && object["measurements"] as? Int == 75)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: out))
        #expect(object["bytes"] as? Int == bytes.count)

        let stdout = try CLI.run(["report", "--log", log, "--out", "-"])
        #expect(stdout.status == 0 && stdout.stdout.hasPrefix("<!doctype html>") && stdout.stdout.hasSuffix("</html>\n"))
        // Equal logs make equal pages but for nothing: the report is a function of the log.
        #expect(stdout.stdout == String(decoding: bytes, as: UTF8.self))
    }

    @Test("--agent and --since / --until narrow the report to what the projection keeps")
    func narrowed() throws {
        let dir = try TemporaryDirectory()
        let log = try Synthetic.mixedLog(in: dir)
        let planner = try CLI.run(["report", "--log", log, "--agent", "planner", "--out", "-"])
        #expect(planner.status == 0, "\(planner)")
        #expect(planner.stdout.contains("data-agent=\"planner\"") && !planner.stdout.contains("data-agent=\"reviewer\""))
        #expect(planner.stdout.contains("limited to <code>--agent planner</code>"))

        // mixedLog's streams: planner/claude at seconds 0–39, planner/codex at 100–124,
        // reviewer 200–202, we,ird 300–304, tester 400–401 of 2026-01-19.
        let window = try CLI.run(["report", "--log", log, "--since", "2026-01-19T00:03:20Z", "--until", "2026-01-19T00:05:00Z", "--json", "--out", dir.file("w.html")])
        #expect(window.status == 0, "\(window)")
        #expect(decodeObject(window.stdout)["streams"] as? Int == 1)
        let page = try String(contentsOfFile: dir.file("w.html"), encoding: .utf8)
        #expect(page.contains("data-agent=\"reviewer\"") && !page.contains("data-agent=\"planner\""))

        let none = try CLI.run(["report", "--log", log, "--since", "1h", "--out", "-"])
        #expect(none.status == 0 && none.stdout.contains("The log holds no measures yet."), "\(none)")
    }

    @Test("a baseline adds the change section; one that cannot be read or is not agent-performance.json exits 65")
    func baseline() throws {
        let dir = try TemporaryDirectory()
        let log = try Synthetic.mixedLog(in: dir)
        let before = dir.file("before.json")
        #expect(try CLI.run(["project", "--log", log, "--out", before]).status == 0)
        let r = try CLI.run(["report", "--log", log, "--baseline", before, "--out", "-"])
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout.contains("<section id=\"change\">") && r.stdout.contains("no significant change"))

        for (content, message) in [(nil, "--baseline: cannot read"), ("[1, 2]", "must be an agent-performance.json object"),
                                   ("{\"schemaVersion\": 1", "is not JSON")] as [(String?, String)] {
            let path = dir.file("bad.json")
            try? FileManager.default.removeItem(atPath: path)
            if let content { try content.write(toFile: path, atomically: true, encoding: .utf8) }
            let bad = try CLI.run(["report", "--log", log, "--baseline", path, "--out", dir.file("x.html")])
            #expect(bad.status == 65, "\(bad)")
            #expect(bad.stderr.hasPrefix("perflog: ") && bad.stderr.contains(message) && bad.stderr.split(separator: "\n").count == 1,
                    "\(bad.stderr)")
            #expect(!FileManager.default.fileExists(atPath: dir.file("x.html")))
        }
    }

    @Test("errors: no log 66, a time that is neither a time nor an age 65, since after until 65, no directory for --out 73",
          arguments: [
              (["--log", "NOLOG"], 66, "no log at"),
              (["--since", "yesterday"], 65, "--since: must be an ISO 8601 time"),
              (["--until", "2026-13-01"], 65, "--until: must be an ISO 8601 time"),
              (["--since", "2026-01-02", "--until", "2026-01-01"], 65, "--since: must be before --until"),
              (["--out", "missing-dir/r.html"], 73, "missing-dir"),
          ] as [([String], Int32, String)])
    func errors(arguments: [String], status: Int32, message: String) throws {
        let dir = try TemporaryDirectory()
        let log = try Synthetic.mixedLog(in: dir)
        var args = ["report"] + arguments.map { $0 == "NOLOG" ? dir.file("none") : $0.hasPrefix("missing-dir") ? dir.file($0) : $0 }
        if !arguments.contains("--log") { args += ["--log", log] }
        let r = try CLI.run(args)
        #expect(r.status == status, "\(r)")
        #expect(r.stderr.contains(message) && r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
        #expect(r.stdout.isEmpty)
    }
}
