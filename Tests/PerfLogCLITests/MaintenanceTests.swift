import Foundation
import PerfLogTestSupport
import Testing

@Suite("check and compact", .serialized)
struct MaintenanceTests {
    @Test("check says ok for a sound log and lists problems, exit 1, for a damaged one without changing it")
    func check() throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("log")
        for i in 0..<30 { try CLI.record(log: log, agent: "a\(i % 3)", duration: "\(i + 1)ms") }
        let ok = try CLI.run(["check", "--log", log])
        #expect(ok.status == 0, "\(ok)")
        #expect(ok.stdout.hasSuffix(": ok\n"))
        let json = try CLI.run(["check", "--log", log, "--json"])
        #expect(decodeObject(json.stdout)["ok"] as? Bool == true)

        // What the walk read, as mdb_stat counts it.
        let pages = try #require(decodeObject(json.stdout)["pages"] as? [String: Any], "\(json)")
        let databases = try #require(pages["databases"] as? [String: [String: Int]], "\(pages)")
        #expect(databases["events"]?["entries"] == 30, "\(databases)")
        let stat = try runCommand(["mdb_stat", "-a", log])
        #expect(stat.status == 0, "\(stat)")
        let statLeaves = stat.output.components(separatedBy: "Leaf pages: ").dropFirst().compactMap { Int($0.prefix { $0.isNumber }) }
        let walkLeaves = databases.filter { $0.key != "free list" }.values.reduce(0) { $0 + ($1["leaf"] ?? 0) }
        #expect(!statLeaves.isEmpty && walkLeaves == statLeaves.reduce(0, +), "walk \(databases) vs mdb_stat \(stat.output)")
        #expect((pages["inUse"] as? Int ?? 0) > walkLeaves, "\(pages)")
        #expect(ok.stdout.contains("pages: ") && ok.stdout.contains(" in use ("), "\(ok)")

        // Overwrite the pages after the two meta pages: the structure is damaged.
        let data = log + "/data.mdb"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: data))
        bytes.replaceSubrange(8192..<bytes.count, with: Data(repeating: 0x5A, count: bytes.count - 8192))
        try bytes.write(to: URL(fileURLWithPath: data))
        let before = try Snapshot(data)
        let bad = try CLI.run(["check", "--log", log])
        #expect(bad.status == 1, "\(bad)")
        #expect(bad.stdout.contains("page"))
        for command in [["tail"], ["info"], ["stats"], ["export", "--format", "ndjson"]] {
            let r = try CLI.run(command + ["--log", log])
            #expect(r.status == 74, "\(command): \(r)")
            #expect(r.stderrLines.count == 1 && r.stderr.contains("damaged"), "\(command): \(r)")
        }
        // Damage below the log's own structure is beyond repair: refused, as writers
        // refuse a log found damaged; the only file added is the damage note.
        let repair = try CLI.run(["check", "--repair", "--log", log])
        #expect(repair.status == 74 && repair.stderr.contains("damaged"), "\(repair)")
        #expect(try Snapshot(data) == before)
        #expect(FileManager.default.fileExists(atPath: log + "/perflog.damaged"))
    }

    @Test("a log on read-only media serves tail, stats, export and project --out elsewhere; a writer is refused clearly")
    func readOnlyMedia() throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("log")
        for i in 0..<12 { try CLI.record(log: log, agent: "a\(i % 2)", duration: "\(i + 1)ms") }
        let view = dir.file("ro")
        try FileManager.default.createDirectory(atPath: view, withIntermediateDirectories: true)
        #expect(try runCommand(["mount", "--bind", log, view]).status == 0, "the fault tests need root to bind-mount")
        defer { _ = try? runCommand(["umount", "-l", view]) }
        #expect(try runCommand(["mount", "-o", "remount,bind,ro", view]).status == 0)
        let before = try Snapshot(view)
        let tail = try CLI.run(["tail", "-n", "100", "--json", "--log", view])
        #expect(tail.status == 0 && tail.stdoutLines.count == 12, "\(tail)")
        let stats = try CLI.run(["stats", "--json", "--log", view])
        #expect(stats.status == 0 && stats.stdout.contains("\"count\": 6"), "\(stats)")
        let export = try CLI.run(["export", "--format", "csv", "--log", view])
        #expect(export.status == 0 && export.stdout.split(separator: "\r\n").count == 13, "\(export)")
        let project = try CLI.run(["project", "--out", dir.file("agent-performance.json"), "--log", view])
        #expect(project.status == 0, "\(project)")
        #expect(FileManager.default.fileExists(atPath: dir.file("agent-performance.json")))
        let record = try CLI.run(["record", "--agent", "a", "--cli", "c", "--duration", "1ms", "--log", view])
        #expect([73, 74].contains(record.status) && record.stderrLines.count == 1, "\(record)")
        #expect(try Snapshot(view) == before)
    }

    @Test("a truncated data file is reported by reading commands and check, and left as it was")
    func truncated() throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("log")
        for i in 0..<200 { try CLI.record(log: log, agent: "a\(i % 20)", duration: "\(i + 1)ms") }
        let data = log + "/data.mdb"
        let bytes = try Data(contentsOf: URL(fileURLWithPath: data))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: data))
        let before = try Snapshot(data)
        let info = try CLI.run(["info", "--log", log])
        #expect(info.status == 74 && info.stderr.contains("truncated"), "\(info)")
        let check = try CLI.run(["check", "--log", log])
        #expect(check.status == 1 && check.stdout.contains("truncated"), "\(check)")
        #expect(try Snapshot(data) == before)
        #expect(FileManager.default.fileExists(atPath: log + "/perflog.damaged"))
    }

    @Test("compact shrinks the log, keeps its events, and --retain re-trims the rings")
    func compact() throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("log")
        var lines = ""
        for i in 0..<3_000 {
            lines += "{\"seq\":\(i + 1),\"time\":\"2026-01-19T20:50:\(String(format: "%02d", i % 60)).\(String(format: "%06d", i))Z\",\"kind\":\"measure\",\"agent\":\"a\(i % 7)\",\"cli\":\"c\",\"invocation\":\"\(String(format: "%016x", i + 1))\",\"durationMs\":\(i % 100 + 1),\"outcome\":\"ok\",\"pid\":1}\n"
        }
        try lines.write(toFile: dir.file("events.ndjson"), atomically: true, encoding: .utf8)
        let imported = try CLI.run(["import", dir.file("events.ndjson"), "--log", log])
        #expect(imported.status == 0, "\(imported)")
        let tailBefore = try CLI.run(["tail", "-n", "1000", "--json", "--log", log]).stdout
        let r = try CLI.run(["compact", "--json", "--log", log])
        #expect(r.status == 0, "\(r)")
        let report = decodeObject(r.stdout)
        #expect((report["bytesAfter"] as? Int ?? .max) <= (report["bytesBefore"] as? Int ?? 0))
        #expect(try CLI.run(["tail", "-n", "1000", "--json", "--log", log]).stdout == tailBefore)
        #expect(try CLI.run(["check", "--log", log]).status == 0)

        let trimmed = try CLI.run(["compact", "--retain", "10", "--log", log])
        #expect(trimmed.status == 0, "\(trimmed)")
        #expect(trimmed.stdout.contains("ring size 100 → 10"))
        let info = decodeObject(try CLI.run(["info", "--json", "--log", log]).stdout)
        #expect(info["retain"] as? Int == 10)
        #expect(info["events"] as? Int == 70)
        #expect(try CLI.run(["check", "--log", log]).status == 0)
        let usage = try CLI.run(["compact", "--retain", "0", "--log", log])
        #expect(usage.status == 64, "\(usage)")
    }

    @Test("a full disk fails record with exit 74 and a clear message; earlier events stay, recording resumes")
    func fullDisk() throws {
        let dir = try TemporaryDirectory()
        let disk = dir.file("disk")
        try FileManager.default.createDirectory(atPath: disk, withIntermediateDirectories: true)
        #expect(try runCommand(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", disk]).status == 0, "the fault tests need root to mount a tmpfs")
        defer { _ = try? runCommand(["umount", "-l", disk]) }
        let log = disk + "/log"
        var recorded = 0
        var failure: CLI.Result?
        let meta = (0..<16).flatMap { ["--meta", "k\($0)=" + String(repeating: "v", count: 250)] }
        for i in 0..<2_000 {
            let r = try CLI.run(["record", "--agent", "a\(i % 50)", "--cli", "c", "--duration", "1ms", "--log", log] + meta)
            if r.status != 0 { failure = r; break }
            recorded += 1
        }
        guard let failure else { Issue.record("the disk never filled"); return }
        #expect(failure.status == 74, "\(failure)")
        #expect(failure.stderrLines.count == 1 && failure.stderr.contains("no space left"), "\(failure)")
        #expect(recorded > 0)
        #expect(try runCommand(["mount", "-o", "remount,size=8m", disk]).status == 0)
        let info = decodeObject(try CLI.run(["info", "--json", "--log", log]).stdout)
        #expect(info["events"] as? Int == recorded)
        #expect(try CLI.run(["record", "--agent", "a", "--cli", "c", "--duration", "1ms", "--log", log]).status == 0)
        #expect(try CLI.run(["check", "--log", log]).status == 0)
    }
}

@Suite("File permissions")
struct PermissionTests {
    func mode(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) ?? -1
    }

    @Test("a new log is private whatever the umask (parents as the umask makes them), and compaction keeps data.mdb's mode")
    func umask() throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("shared/metrics/log")
        let perflog = CLI.binary
        let script = """
            umask 027 && "$0" record --agent a --cli c --duration 1ms --log "$1" \
              && "$0" project --out "$2" --log "$1" && chmod 660 "$1/data.mdb" && "$0" compact --log "$1"
            """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", script, perflog, log, dir.file("shared/agent-performance.json")]
        try p.run()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        #expect(try mode(dir.file("shared")) == 0o750)
        #expect(try mode(dir.file("shared/metrics")) == 0o750)
        #expect(try mode(log) == 0o700)
        #expect(try mode(log + "/lock.mdb") == 0o600)
        #expect(try mode(log + "/perflog.lock") == 0o600)
        #expect(try mode(dir.file("shared/agent-performance.json")) == 0o600)
        // Compaction replaced data.mdb with a copy that kept the mode it had.
        #expect(try mode(log + "/data.mdb") == 0o660)
    }
}
