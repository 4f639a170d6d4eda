import Foundation
import PerfLogTestSupport
import Testing

@Suite("finding the log: the current directory or the nearest parent with .planning/, as git finds .git")
struct LogDiscoveryTests {
    /// A project with `.planning/` at its top and a deep subdirectory.
    static func project() throws -> (dir: TemporaryDirectory, top: String, deep: String) {
        let dir = try TemporaryDirectory()
        let top = dir.file("project")
        let deep = top + "/src/deep"
        try FileManager.default.createDirectory(atPath: top + "/.planning", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: deep, withIntermediateDirectories: true)
        return (dir, top, deep)
    }

    @Test("from a subdirectory every command uses the project's log; info says where it was found")
    func fromASubdirectory() throws {
        let (dir, top, deep) = try Self.project()
        defer { withExtendedLifetime(dir) {} }
        let record = try CLI.run(["record", "--agent", "planner", "--cli", "claude", "--duration", "5ms"], in: deep)
        #expect(record.status == 0, "\(record)")
        let log = top + "/.planning/metrics/perflog"
        #expect(FileManager.default.fileExists(atPath: log + "/data.mdb"))
        #expect(!FileManager.default.fileExists(atPath: deep + "/.planning"), "no second log in the subdirectory")

        let tail = try CLI.run(["tail", "--json"], in: deep)
        #expect(tail.status == 0 && tail.stdout.contains("\"agent\":\"planner\""), "\(tail)")
        let info = try CLI.run(["info"], in: deep)
        #expect(info.status == 0, "\(info)")
        // getcwd gives the resolved path: compare against it.
        let resolvedTop = URL(fileURLWithPath: top).resolvingSymlinksInPath().path
        #expect(info.stdout.contains("(found from the parent directory \(resolvedTop))"), "\(info.stdout)")
        let json = decodeObject(try CLI.run(["info", "--json"], in: deep).stdout)
        #expect(json["foundFrom"] as? String == "parent directory")
        #expect((json["path"] as? String)?.hasSuffix("/project/.planning/metrics/perflog") == true)

        // The files that go beside the log go beside it, not into the subdirectory.
        #expect(try CLI.run(["project"], in: deep).status == 0)
        #expect(FileManager.default.fileExists(atPath: top + "/.planning/metrics/agent-performance.json"))
        #expect(try CLI.run(["report"], in: deep).status == 0)
        #expect(FileManager.default.fileExists(atPath: top + "/.planning/metrics/perflog-report.html"))
    }

    @Test("in the project's top directory, and where no directory has .planning/, the current directory's log")
    func currentDirectory() throws {
        let (dir, top, _) = try Self.project()
        defer { withExtendedLifetime(dir) {} }
        #expect(try CLI.run(["record", "--agent", "a", "--cli", "b", "--duration", "1ms"], in: top).status == 0)
        let json = decodeObject(try CLI.run(["info", "--json"], in: top).stdout)
        #expect(json["foundFrom"] as? String == "current directory" && json["path"] as? String == ".planning/metrics/perflog")

        let elsewhere = dir.file("elsewhere")
        try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: true)
        let missing = try CLI.run(["tail"], in: elsewhere)
        #expect(missing.status == 66, "reading commands never create it: \(missing)")
        #expect(!FileManager.default.fileExists(atPath: elsewhere + "/.planning"))
    }

    @Test("--log and PERFLOG_LOG win; an empty PERFLOG_LOG counts as unset")
    func overrides() throws {
        let (dir, top, deep) = try Self.project()
        let other = dir.file("other-log")
        #expect(try CLI.run(["record", "--agent", "a", "--cli", "b", "--duration", "1ms"], in: deep,
                            environment: ["PERFLOG_LOG": other]).status == 0)
        #expect(FileManager.default.fileExists(atPath: other + "/data.mdb"))
        let info = decodeObject(try CLI.run(["info", "--json"], in: deep, environment: ["PERFLOG_LOG": other]).stdout)
        #expect(info["foundFrom"] as? String == "PERFLOG_LOG")
        let flag = decodeObject(try CLI.run(["info", "--json", "--log", other], in: deep).stdout)
        #expect(flag["foundFrom"] as? String == "--log")

        let empty = try CLI.run(["record", "--agent", "a", "--cli", "b", "--duration", "1ms"], in: deep, environment: ["PERFLOG_LOG": ""])
        #expect(empty.status == 0, "\(empty)")
        #expect(FileManager.default.fileExists(atPath: top + "/.planning/metrics/perflog/data.mdb"))
    }
}
