import Foundation
import LMDB
@testable import PerfLog
import PerfLogTestSupport
import Testing

/// The fixture logs of earlier schemas and what their perflog printed for them: see
/// Fixtures/README.md.
enum SchemaFixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path

    /// A copy of the fixture log `name` (`schema-1-log`, …), to be read or changed.
    static func copy(_ name: String, in dir: TemporaryDirectory) throws -> String {
        let log = dir.file("log")
        try FileManager.default.createDirectory(atPath: log, withIntermediateDirectories: false)
        try FileManager.default.copyItem(atPath: directory + "/" + name + "/data.mdb", toPath: log + "/data.mdb")
        return log
    }

    /// The text of fixture file `name`.
    static func text(_ name: String) throws -> String {
        try String(contentsOfFile: directory + "/" + name, encoding: .utf8)
    }
}

/// A log written by perflog 0.1.0 (schema 1), as users have them: see Fixtures/README.md.
@Suite("Upgrading a schema-1 log")
struct SchemaUpgradeTests {
    /// A copy of the fixture log, to be read or changed.
    func copyOfTheFixture(in dir: TemporaryDirectory) throws -> String {
        try SchemaFixtures.copy("schema-1-log", in: dir)
    }

    func fixture(_ name: String) throws -> String {
        try SchemaFixtures.text(name)
    }

    /// `stats --json` objects without the keys this schema added, and without
    /// `abandoned`, which the clock changes (the fixture's mark was new when it was made).
    func withoutLifetimeKeys(_ json: String) throws -> [NSDictionary] {
        let array = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]])
        return array.map { o in
            var o = o
            o["total"] = nil
            o["totalFailures"] = nil
            o["abandoned"] = nil
            return o as NSDictionary
        }
    }

    @Test("reading commands work on it and leave its file byte for byte as it was")
    func readersLeaveItAlone() throws {
        let dir = try TemporaryDirectory()
        let log = try copyOfTheFixture(in: dir)
        let original = try Data(contentsOf: URL(fileURLWithPath: log + "/data.mdb"))

        let info = try CLI.run(["info", "--json", "--log", log])
        #expect(info.status == 0, "\(info)")
        #expect(decodeObject(info.stdout)["schemaVersion"] as? Int == 1)
        let export = try CLI.run(["export", "--format", "ndjson", "--log", log])
        #expect(export.status == 0, "\(export)")
        #expect(export.stdout == (try fixture("schema-1-export.ndjson")))
        let stats = try CLI.run(["stats", "--json", "--log", log])
        #expect(stats.status == 0, "\(stats)")
        #expect(try withoutLifetimeKeys(stats.stdout) == (try withoutLifetimeKeys(fixture("schema-1-stats.json"))))
        for arguments in [["tail", "-n", "100"], ["check"], ["compare", "--agent", "planner"], ["export", "--format", "openmetrics"]] {
            let r = try CLI.run(arguments + ["--log", log])
            #expect(r.status == 0, "\(arguments): \(r)")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: log + "/data.mdb")) == original, "a reader changed the file")
    }

    @Test("its first writer upgrades it: every event still there, counters started from the window, check clean")
    func firstWriterUpgrades() throws {
        let dir = try TemporaryDirectory()
        let log = try copyOfTheFixture(in: dir)
        let before = Date().timeIntervalSince1970
        try CLI.record(log: log, agent: "planner", cli: "claude", duration: "2.5s")

        let info = decodeObject(try CLI.run(["info", "--json", "--log", log]).stdout)
        #expect(info["schemaVersion"] as? Int == 3)
        let check = try CLI.run(["check", "--log", log])
        #expect(check.status == 0, "\(check)")

        // Every event of the old log, then the new one.
        let export = try CLI.run(["export", "--format", "ndjson", "--log", log])
        let old = try fixture("schema-1-export.ndjson").split(separator: "\n")
        let now = export.stdout.split(separator: "\n")
        // planner/claude's ring (retain 5) lost its oldest measure to the new one.
        let evicted = old.first { $0.contains("\"cli\":\"claude\"") }
        #expect(Set(now).isSuperset(of: old.filter { $0 != evicted }), "\(export.stdout)")
        #expect(now.count == old.count)

        // The window held 5 ok measures of planner/claude; the counters count them and the new one.
        let stats = try #require(try JSONSerialization.jsonObject(with: Data(try CLI.run(["stats", "--json", "--log", log]).stdout.utf8)) as? [[String: Any]])
        let claude = try #require(stats.first { $0["agent"] as? String == "planner" && $0["cli"] as? String == "claude" })
        #expect(claude["total"] as? Int == 6)
        #expect(claude["totalFailures"] as? Int == 0)
        let gemini = try #require(stats.first { $0["cli"] as? String == "gemini" })
        #expect(gemini["total"] as? Int == 5 && gemini["totalFailures"] as? Int == 1)

        let metrics = try CLI.run(["export", "--format", "openmetrics", "--log", log]).stdout
        #expect(metrics.contains("perflog_invocations_total{agent=\"planner\",cli=\"claude\",outcome=\"ok\"} 6\n"), "\(metrics)")
        #expect(metrics.contains("perflog_invocation_duration_seconds_bucket{agent=\"planner\",cli=\"claude\",le=\"+Inf\"} 6\n"), "\(metrics)")
        let created = try #require(metrics.split(separator: "\n").first {
            $0.hasPrefix("perflog_invocation_duration_seconds_created{agent=\"coder\"")
        })
        let started = try #require(Double(created.split(separator: " ").last ?? ""))
        #expect(started >= before.rounded(.down), "the upgrade's time is the counters' start")

        // Readers and writers alike now see schema 3; a second writer has nothing to do.
        try CLI.record(log: log, agent: "coder", cli: "gemini", duration: "1s", extra: ["--failed"])
        let gemini2 = try #require((try JSONSerialization.jsonObject(with: Data(try CLI.run(["stats", "--json", "--agent", "coder", "--log", log]).stdout.utf8)) as? [[String: Any]])?.first)
        #expect(gemini2["total"] as? Int == 6 && gemini2["totalFailures"] as? Int == 2)
        #expect(try CLI.run(["check", "--log", log]).status == 0)
    }
}

/// A log written by the perflog before signals were recorded (schema 2), with an exec of
/// a command killed by SIGKILL stored the old way, as exit code 137: see
/// Fixtures/README.md.
@Suite("Upgrading a schema-2 log")
struct SchemaTwoUpgradeTests {
    /// `stats --json` objects without `abandoned`, which the clock changes.
    func withoutAbandoned(_ json: String) throws -> [NSDictionary] {
        let array = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]])
        return array.map { o in
            var o = o
            o["abandoned"] = nil
            return o as NSDictionary
        }
    }

    @Test("reading commands work on it and leave its file byte for byte as it was")
    func readersLeaveItAlone() throws {
        let dir = try TemporaryDirectory()
        let log = try SchemaFixtures.copy("schema-2-log", in: dir)
        let original = try Data(contentsOf: URL(fileURLWithPath: log + "/data.mdb"))

        let info = try CLI.run(["info", "--json", "--log", log])
        #expect(info.status == 0, "\(info)")
        #expect(decodeObject(info.stdout)["schemaVersion"] as? Int == 2)
        let export = try CLI.run(["export", "--format", "ndjson", "--log", log])
        #expect(export.status == 0, "\(export)")
        #expect(export.stdout == (try SchemaFixtures.text("schema-2-export.ndjson")))
        let stats = try CLI.run(["stats", "--json", "--log", log])
        #expect(try withoutAbandoned(stats.stdout) == (try withoutAbandoned(SchemaFixtures.text("schema-2-stats.json"))))
        for arguments in [["tail", "-n", "100"], ["check"], ["export", "--format", "csv"], ["export", "--format", "openmetrics"]] {
            let r = try CLI.run(arguments + ["--log", log])
            #expect(r.status == 0, "\(arguments): \(r)")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: log + "/data.mdb")) == original, "a reader changed the file")
    }

    @Test("its first writer upgrades it: old events read back unchanged, counters kept, a signal can be written and read")
    func firstWriterUpgrades() throws {
        let dir = try TemporaryDirectory()
        let log = try SchemaFixtures.copy("schema-2-log", in: dir)
        let old = try SchemaFixtures.text("schema-2-export.ndjson")
        let recorded = try CLI.record(log: log, agent: "reviewer", cli: "claude", duration: "3s", extra: ["--signal", "KILL"])
        #expect(recorded.contains(#""outcome":"failed","signal":9,"pid":"#), "\(recorded)")

        #expect(decodeObject(try CLI.run(["info", "--json", "--log", log]).stdout)["schemaVersion"] as? Int == 3)
        let check = try CLI.run(["check", "--log", log])
        #expect(check.status == 0, "\(check)")

        // Every old event as it was (the exit code 137 of the old exec stays an exit
        // code: nothing is reinterpreted), then the new one, in a stream of its own.
        let export = try CLI.run(["export", "--format", "ndjson", "--log", log])
        #expect(export.stdout == old + recorded + "\n", "\(export.stdout)")
        #expect(old.contains(#""exitCode":137"#) && !old.contains(#""signal""#))

        // The upgrade from 2 to 3 leaves the lifetime counters alone: they did not restart.
        let before = try withoutAbandoned(SchemaFixtures.text("schema-2-stats.json"))
        let after = try withoutAbandoned(try CLI.run(["stats", "--json", "--log", log]).stdout)
        #expect(after.filter { $0["agent"] as? String != "reviewer" } == before)
        let reviewer = try #require(after.first { $0["agent"] as? String == "reviewer" })
        #expect(reviewer["failures"] as? Int == 1 && reviewer["totalFailures"] as? Int == 1)

        let tail = try CLI.run(["tail", "-n", "2", "--log", log, "--color", "never"])
        #expect(tail.stdoutLines.last?.hasSuffix("failed (killed by SIGKILL)") == true, "\(tail)")
        #expect(tail.stdoutLines.dropLast().last?.hasSuffix("failed (exit 143)") == true, "\(tail)")
        let csv = try CLI.run(["export", "--format", "csv", "--log", log]).stdout.components(separatedBy: "\r\n")
        #expect(csv.first?.hasSuffix(",meta,signal") == true)
        #expect(csv.dropLast().last?.hasSuffix(",failed,,\(decodeObject(recorded)["pid"] as? Int ?? -1),,9") == true, "\(csv)")
    }
}

/// What a perflog older than a log does with it, played by this one on a log that names
/// a schema one past its own.
@Suite("A log of a newer schema")
struct NewerSchemaTests {
    @Test("every command refuses it with 74, saying it is from a newer perflog, and leaves it alone",
          arguments: [["tail"], ["info"], ["export", "--format", "ndjson"], ["record", "--agent", "a", "--cli", "c", "--duration", "1s"],
                      ["exec", "--agent", "a", "--cli", "c"]])
    func refused(_ arguments: [String]) throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("log")
        try CLI.record(log: log, agent: "a", cli: "c", duration: "1s", extra: ["--signal", "TERM"])
        do {
            let opened = try EventLog(path: log)
            try opened.environment.write { txn in
                try txn.putMeta(.schema, EventLog.schemaVersion + 1, in: try txn.openDatabase("meta"))
            }
        }
        let before = try Data(contentsOf: URL(fileURLWithPath: log + "/data.mdb"))
        // exec still runs its command, and only warns that the run was not recorded.
        let r = try CLI.run(arguments + ["--log", log] + (arguments[0] == "exec" ? ["--", "true"] : []))
        #expect(r.status == (arguments[0] == "exec" ? 0 : 74), "\(r)")
        #expect(r.stderrLines.count == 1 && r.stderr.contains("written by a newer perflog (schema \(EventLog.schemaVersion + 1)"), "\(r)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: log + "/data.mdb")) == before)
    }
}
