import Foundation
import PerfLogTestSupport
import Testing

@Suite("info: facts about the log")
struct InfoTests {
    @Test func jsonHasTheContractFieldsInOrder() throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("log")
        try CLI.record(log: log, agent: "a", cli: "x")
        try CLI.record(log: log, agent: "a", cli: "y")
        try CLI.record(log: log, agent: "a", cli: "y", extra: ["--failed"])

        let r = try CLI.run(["info", "--json", "--log", log])
        #expect(r.status == 0, "\(r)")
        #expect(r.stderr.isEmpty)
        let line = r.stdout.trimmingCharacters(in: .newlines)
        #expect(!line.contains("\n") && !line.contains(" "), "one compact line: \(line)")
        #expect(keyOrder(line) == [
            "path", "schemaVersion", "retain", "streams", "events", "inFlight", "fileBytes", "mapBytes", "lmdbVersion",
            "abandoned", "total", "totalFailures", "foundFrom",
        ])
        let info = decodeObject(line)
        #expect(info["path"] as? String == log)
        #expect(info["schemaVersion"] as? Int == 3)
        #expect(info["total"] as? Int == 3)
        #expect(info["totalFailures"] as? Int == 1)
        #expect(info["retain"] as? Int == 100)
        #expect(info["streams"] as? Int == 2)
        #expect(info["events"] as? Int == 3)
        #expect(info["inFlight"] as? Int == 0)
        let fileBytes = try FileManager.default.attributesOfItem(atPath: log + "/data.mdb")[.size] as? Int
        #expect(info["fileBytes"] as? Int == fileBytes)
        #expect((info["mapBytes"] as? Int ?? 0) >= (fileBytes ?? .max))
        #expect((info["lmdbVersion"] as? String)?.wholeMatch(of: /\d+\.\d+\.\d+/) != nil)
    }

    @Test func humanFormIsAlignedKeyValueLines() throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("log")
        try CLI.record(log: log)
        let r = try CLI.run(["info", "--log", log])
        #expect(r.status == 0, "\(r)")
        let lines = r.stdoutLines
        #expect(lines.first == "path:            \(log)")
        let valueColumns = Set(lines.map { line in
            line.firstIndex(of: ":").map { colon in
                line[line.index(after: colon)...].prefix(while: { $0 == " " }).count + line.distance(from: line.startIndex, to: colon)
            } ?? -1
        })
        #expect(valueColumns.count == 1, "values start in one column:\n\(r.stdout)")
        #expect(lines.contains { $0.hasPrefix("file size:") && $0.contains("KiB (") }, "\(r.stdout)")
        #expect(lines.contains { $0.hasPrefix("map size:") && $0.contains("MiB (") }, "\(r.stdout)")
    }

    @Test func readingDoesNotChangeTheDataFile() throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("log")
        try CLI.record(log: log)
        // lock.mdb holds the reader table, which a read uses by design; data.mdb must not change.
        let before = try Data(contentsOf: URL(fileURLWithPath: log + "/data.mdb"))
        _ = try CLI.run(["info", "--log", log])
        _ = try CLI.run(["tail", "--log", log])
        #expect(try Data(contentsOf: URL(fileURLWithPath: log + "/data.mdb")) == before)
    }
}

@Suite("help teaches")
struct HelpTests {
    @Test(arguments: [[String](), ["record"], ["exec"], ["tail"], ["info"]])
    func helpExitsZero(command: [String]) throws {
        let r = try CLI.run(command + ["--help"])
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout.contains("USAGE: perflog"), "\(r)")
    }

    /// Every key of `value`'s objects, at any depth.
    private static func keys(_ value: Any) -> Set<String> {
        if let object = value as? [String: Any] {
            return object.reduce(into: Set(object.keys)) { $0.formUnion(keys($1.value)) }
        }
        if let array = value as? [Any] { return array.reduce(into: []) { $0.formUnion(keys($1)) } }
        return []
    }

    @Test("every key that --json prints is named in the command's --help",
          arguments: [["info"], ["stats"], ["compare", "--agent", "a"]])
    func helpNamesEveryJSONKey(command: [String]) throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("log")
        for cli in ["x", "y"] {
            for _ in 0..<3 { try CLI.record(log: log, agent: "a", cli: cli) }
        }
        let printed = try CLI.run(command + ["--json", "--log", log])
        #expect(printed.status == 0, "\(printed)")
        let keys = Self.keys(try JSONSerialization.jsonObject(with: Data(printed.stdout.utf8)))
        #expect(keys.count > 3, "\(printed)")
        let help = try CLI.run([command[0], "--help"]).stdout
        for key in keys.sorted() { #expect(help.contains(key), "perflog \(command[0]) --help does not name \(key)") }
    }

    @Test("the root help shows an example of every subcommand")
    func rootHelpExamplesEverySubcommand() throws {
        let help = try CLI.run(["--help"]).stdout
        let names = ["init", "record", "exec", "tail", "info", "stats", "compare", "project", "export", "import",
                     "report", "check", "compact", "recover", "serve", "forget", "rename"]
        let examples = help.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) + " " }
        for name in names { #expect(examples.contains { $0.hasPrefix("perflog \(name) ") }, "no example of \(name)") }
    }

    @Test func rootHelpDocumentsExitStatuses() throws {
        let r = try CLI.run(["--help"])
        for code in ["64", "65", "66", "73", "74", "75"] { #expect(r.stdout.contains(code), "missing \(code)") }
        #expect(r.stdout.contains("PERFLOG_LOG"))
    }
}
