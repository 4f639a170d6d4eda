import Foundation
import PerfLogTestSupport
import Testing

/// A damaged log: every command fails with 74 and a one-line message instead of dying
/// of a signal; once a log is found damaged no command writes it; `recover` copies
/// what is readable.
@Suite("A damaged log", .timeLimit(.minutes(5)))
struct DamageTests {
    /// A healthy log of 3,000 measures over 10 streams, retain 1,000 (several `events`
    /// leaves), and the pages an independent walk finds in it.
    static func healthyLog(in dir: TemporaryDirectory) throws -> (log: String, pages: LMDBPages) {
        let log = dir.file("log")
        try StressTool.run(["--log", log, "--events", "3000", "--streams", "10", "--batch", "50", "--retain", "1000", "--seed", "7"])
        return (log, try LMDBPages(log + "/data.mdb"))
    }

    /// The node area of page `page` (from its `upper` bound to its end).
    static func upper(_ file: String, page: Int) throws -> Int {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
        let o = page * LMDBPages.pageSize
        return Int(bytes[o + 14]) | Int(bytes[o + 15]) << 8
    }

    static func expectDamageReported(_ r: CLI.Result, _ command: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(r.status == 74, "perflog \(command): \(r)", sourceLocation: sourceLocation)
        #expect(r.stderrLines.count == 1, "perflog \(command): \(r)", sourceLocation: sourceLocation)
        #expect(r.stderr.contains("damaged"), "perflog \(command): \(r)", sourceLocation: sourceLocation)
    }

    @Test("256 bytes flipped in the nodes of an events leaf: every reader and maintainer exits 74, nothing is changed")
    func flippedEventsLeaf() throws {
        let dir = try TemporaryDirectory(prefix: "pl-damage")
        let (log, pages) = try Self.healthyLog(in: dir)
        let data = log + "/data.mdb"
        let leaves = pages.pages("events", .leaf)
        try #require(leaves.count >= 3)
        let page = leaves[leaves.count / 2]
        try Damage.flip(data, page: page, offset: try Self.upper(data, page: page), count: 256)
        let damaged = try Data(contentsOf: URL(fileURLWithPath: data))

        for command in [["stats"], ["export", "--format", "ndjson"], ["project", "--out", dir.file("p.json")], ["compact"], ["check", "--repair"]] {
            let r = try CLI.run(command + ["--log", log])
            Self.expectDamageReported(r, command.joined(separator: " "))
        }
        let check = try CLI.run(["check", "--log", log])
        #expect(check.status == 74 || check.status == 1, "\(check)")
        #expect(check.stderr.contains("damaged") || check.stdout.contains("data.mdb"), "\(check)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: data)) == damaged, "data.mdb was changed")
        #expect(FileManager.default.fileExists(atPath: log + "/perflog.damaged"))
    }

    @Test("a FIFO in place of data.mdb or lock.mdb: every command ends with one line naming it, none waits for a writer of the FIFO",
          arguments: ["data.mdb", "lock.mdb"])
    func fifoInPlaceOfAFile(name: String) throws {
        let dir = try TemporaryDirectory(prefix: "pl-damage")
        let log = dir.file("log")
        try CLI.record(log: log)
        try FileManager.default.removeItem(atPath: log + "/" + name)
        try #require(mkfifo(log + "/" + name, 0o600) == 0)
        let message = "perflog: \(log) is not a perflog log: \(name) is not a regular file; it was left untouched"
        for command in [["info"], ["stats"], ["tail"], ["export", "--format", "ndjson"], ["compact"],
                        ["record", "--agent", "a", "--cli", "c", "--duration", "1s"]] {
            let r = try CLI.run(command + ["--log", log])
            #expect(r.status == 74, "perflog \(command.joined(separator: " ")): \(r)")
            #expect(r.stderrLines == [message], "perflog \(command.joined(separator: " ")): \(r)")
        }
        // Not a log perflog can read: check says so as every command does.
        let check = try CLI.run(["check", "--log", log])
        #expect(check.status == 74, "\(check)")
        #expect(check.stderrLines == [message], "\(check)")
        let recover = try CLI.run(["recover", "--log", log, "--out", dir.file("recovered")])
        #expect(recover.status == 74, "\(recover)")
        #expect(recover.stderr.contains("\(name) is not a regular file"), "\(recover)")
    }

    @Test("export that printed part of a damaged log still exits 74")
    func exportStopsWith74() throws {
        let dir = try TemporaryDirectory(prefix: "pl-damage")
        let (log, pages) = try Self.healthyLog(in: dir)
        let data = log + "/data.mdb"
        let leaves = pages.pages("events", .leaf)
        let page = try #require(leaves.max())  // the newest events: export reaches it last
        try Damage.flip(data, page: page, offset: try Self.upper(data, page: page), count: 256)
        let r = try CLI.run(["export", "--format", "ndjson", "--log", log])
        Self.expectDamageReported(r, "export")
    }

    @Test("a meta page whose transaction id has its top bit set (found by file fuzzing): no command dies of it")
    func hugeTransactionID() throws {
        let dir = try TemporaryDirectory(prefix: "pl-damage")
        let (log, _) = try Self.healthyLog(in: dir)
        // mm_txnid of the second meta page: 16-byte page header + 128 bytes into MDB_meta.
        try Damage.edit(log + "/data.mdb") { bytes in
            for i in 0..<8 { bytes[LMDBPages.pageSize + 144 + i] = 0xFF }
        }
        for command in [["info"], ["check"], ["stats"], ["tail", "-n", "1"]] {
            let r = try CLI.run(command + ["--log", log])
            #expect([0, 1, 74].contains(r.status), "perflog \(command): \(r)")
        }
    }

    @Test("bad node offsets in the streams leaf: info exits 74")
    func badStreamsOffsets() throws {
        let dir = try TemporaryDirectory(prefix: "pl-damage")
        let (log, pages) = try Self.healthyLog(in: dir)
        let page = try #require(pages.pages("streams", .leaf).first)
        try Damage.flip(log + "/data.mdb", page: page, offset: 16, count: 8)
        let before = try Data(contentsOf: URL(fileURLWithPath: log + "/data.mdb"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: log + "/data.mdb")) == before)
    }

    @Test("a damaged page header: project, project --watch and compact exit 74; then record, import and serve refuse; data.mdb is unchanged")
    func damagedHeader() throws {
        let dir = try TemporaryDirectory(prefix: "pl-damage")
        let (log, pages) = try Self.healthyLog(in: dir)
        let data = log + "/data.mdb"
        let page = try #require(pages.pages("events", .leaf).first)
        // P_LEAF becomes P_BRANCH: LMDB asserts IS_LEAF when it gets there.
        try Damage.edit(data) { bytes in bytes[page * LMDBPages.pageSize + 10] = 0x01 }
        let damaged = try Data(contentsOf: URL(fileURLWithPath: data))

        Self.expectDamageReported(try CLI.run(["project", "--out", dir.file("p.json"), "--log", log]), "project")
        Self.expectDamageReported(try CLI.run(["project", "--watch", "--out", dir.file("w.json"), "--log", log]), "project --watch")
        Self.expectDamageReported(try CLI.run(["compact", "--log", log]), "compact")
        #expect(FileManager.default.fileExists(atPath: log + "/perflog.damaged"))

        let importFile = dir.file("one.ndjson")
        try Data("{\"time\":\"2026-01-19T20:50:24.123456Z\",\"kind\":\"measure\",\"agent\":\"imp\",\"cli\":\"c\",\"invocation\":\"1f\",\"pid\":1,\"durationMs\":5,\"outcome\":\"ok\"}\n".utf8)
            .write(to: URL(fileURLWithPath: importFile))
        for command in [["record", "--agent", "a", "--cli", "c", "--duration", "1ms"], ["import", importFile], ["check", "--repair"]] {
            let r = try CLI.run(command + ["--log", log])
            #expect(r.status == 74, "perflog \(command): \(r)")
            // Writers refuse on the note; check --repair walks the pages first and names the damage itself.
            #expect((r.stderr.contains("is not written to") || r.stderr.contains("is damaged")) && r.stderr.contains("perflog recover"),
                    "perflog \(command): \(r)")
        }
        let serve = try Battery.serveBriefly(log: log, socket: dir.file("s.sock"))
        #expect(serve.status == 74, "perflog serve: \(serve)")

        // A leaf that claims to be a branch sends a cursor astray: recover takes each
        // event once, in order, and loses only that page's events.
        let recovered = try CLI.run(["recover", "--json", "--out", dir.file("new"), "--log", log])
        #expect(recovered.status == 1, "\(recovered)")
        let count = decodeObject(recovered.stdout.trimmingCharacters(in: .newlines))["recovered"] as? Int ?? 0
        #expect(count < 3000 && count > 2800, "\(recovered)")
        #expect(try Self.identities(dir.file("new")).count == count)
        #expect(try Data(contentsOf: URL(fileURLWithPath: data)) == damaged, "data.mdb was changed")
    }

    @Test("recover stops a reader that sends nothing (here: stopped by SIGSTOP) and goes on from where it was")
    func recoverStopsAStuckReader() throws {
        let dir = try TemporaryDirectory(prefix: "pl-damage")
        let log = dir.file("log")
        // Enough events that the reader is still at work when it is found.
        try StressTool.run(["--log", log, "--events", "50000", "--streams", "20", "--batch", "1000", "--retain", "10000", "--seed", "3"])
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CLI.binary)
        process.arguments = ["recover", "--json", "--out", dir.file("new"), "--log", log]
        let output = dir.file("recover.out")
        _ = FileManager.default.createFile(atPath: output, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
        try process.run()
        // The first child reads the header; the one reading the timeline is stopped.
        var stopped: pid_t?
        while stopped == nil && process.isRunning {
            let children = (try? String(contentsOfFile: "/proc/\(process.processIdentifier)/task/\(process.processIdentifier)/children", encoding: .utf8)) ?? ""
            for child in children.split(separator: " ").compactMap({ pid_t($0) }) {
                let command = (try? String(contentsOfFile: "/proc/\(child)/cmdline", encoding: .utf8)) ?? ""
                if command.contains("--read-from") && kill(child, SIGSTOP) == 0 { stopped = child; break }
            }
        }
        process.waitUntilExit()
        try #require(stopped != nil, "the timeline reader ended before it could be stopped")
        #expect(process.terminationStatus == 0)
        let report = decodeObject(try String(contentsOfFile: output, encoding: .utf8).trimmingCharacters(in: .newlines))
        #expect(report["complete"] as? Bool == true, "\(report)")
        #expect((report["readers"] as? Int ?? 0) >= 3, "\(report)")
        let all = try CLI.run(["export", "--format", "ndjson", "--log", log])
        #expect(try Self.identities(dir.file("new")) == Self.identities(all.stdout))
    }

    @Test("recover copies every readable event into a new log and names what it lost")
    func recoverCopiesWhatIsReadable() throws {
        let dir = try TemporaryDirectory(prefix: "pl-damage")
        let (log, pages) = try Self.healthyLog(in: dir)
        let data = log + "/data.mdb"
        let all = try CLI.run(["export", "--format", "ndjson", "--log", log])
        try #require(all.status == 0)

        // A healthy log comes out whole.
        let whole = try CLI.run(["recover", "--out", dir.file("whole"), "--log", log])
        #expect(whole.status == 0, "\(whole)")
        #expect(try CLI.run(["check", "--log", dir.file("whole")]).status == 0)
        #expect(try Self.identities(dir.file("whole")) == Self.identities(all.stdout))

        let leaves = pages.pages("events", .leaf)
        let page = leaves[leaves.count / 2]
        try Damage.flip(data, page: page, offset: try Self.upper(data, page: page), count: 256)
        let damaged = try Data(contentsOf: URL(fileURLWithPath: data))
        let r = try CLI.run(["recover", "--json", "--out", dir.file("new"), "--log", log])
        #expect(r.status == 1, "\(r)")
        let report = decodeObject(r.stdout.trimmingCharacters(in: .newlines))
        let ranges = report["lostRanges"] as? [[String: Any]] ?? []
        let undecodable = report["undecodable"] as? [[String: Any]] ?? []
        #expect(!ranges.isEmpty || !undecodable.isEmpty, "\(r)")
        #expect(try CLI.run(["check", "--log", dir.file("new")]).status == 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: data)) == damaged, "recover changed the damaged log")

        // Every event outside what it says it lost is in the new log.
        let lostSeqs = { (seq: Int) -> Bool in
            ranges.contains { ($0["from"] as? Int ?? 0) <= seq && seq <= ($0["through"] as? Int ?? 0) }
                || undecodable.contains { ($0["seq"] as? Int) == seq }
        }
        let expected = all.stdoutLines.map { decodeObject($0) }.filter { !lostSeqs($0["seq"] as? Int ?? 0) }
        let recovered = try Self.identities(dir.file("new"))
        #expect(Set(expected.map(Self.identity)) == recovered)
        #expect(report["recovered"] as? Int == recovered.count)
        #expect(recovered.count < all.stdoutLines.count)

        // A non-empty --out is refused.
        let again = try CLI.run(["recover", "--out", dir.file("new"), "--log", log])
        #expect(again.status == 73, "\(again)")
    }

    @Test("the damage note: a stale one is ignored, a false one is cleared by check, a current one stops writers")
    func marker() throws {
        let dir = try TemporaryDirectory(prefix: "pl-damage")
        let log = dir.file("log")
        try CLI.record(log: log)
        let marker = log + "/perflog.damaged"

        // Stale: it names another data.mdb (the file was restored from a backup).
        try Data("device=1\ninode=1\ntime=0\nfound=page 9 is bad\n".utf8).write(to: URL(fileURLWithPath: marker))
        #expect(try CLI.run(["record", "--agent", "a", "--cli", "c", "--duration", "1ms", "--log", log]).status == 0)
        #expect(!FileManager.default.fileExists(atPath: marker))

        // Current (no identity counts as current): writers refuse, check clears it.
        try Data("found=page 9 is bad\n".utf8).write(to: URL(fileURLWithPath: marker))
        let refused = try CLI.run(["record", "--agent", "a", "--cli", "c", "--duration", "1ms", "--log", log])
        #expect(refused.status == 74 && refused.stderr.contains("page 9 is bad"), "\(refused)")
        let check = try CLI.run(["check", "--log", log])
        #expect(check.status == 0, "\(check)")
        #expect(!FileManager.default.fileExists(atPath: marker))
        #expect(try CLI.run(["record", "--agent", "a", "--cli", "c", "--duration", "1ms", "--log", log]).status == 0)
    }

    static func identity(_ object: [String: Any]) -> String {
        ["agent", "cli", "kind", "invocation", "time", "outcome"].map { "\(object[$0] ?? "")" }.joined(separator: "|")
            + "|\(object["durationMs"].map { "\($0)" } ?? "")"
    }

    static func identities(_ source: String) throws -> Set<String> {
        let text: String
        if source.hasPrefix("{") || source.isEmpty {
            text = source
        } else {
            let r = try CLI.run(["export", "--format", "ndjson", "--log", source])
            #expect(r.status == 0, "\(r)")
            text = r.stdout
        }
        return Set(text.split(separator: "\n").map { identity(decodeObject(String($0))) })
    }
}
