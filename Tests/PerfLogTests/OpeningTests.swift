import Foundation
import LMDB
@testable import PerfLog
import PerfLogTestSupport
import Testing

@Suite("Opening a log")
struct OpeningTests {
    @Test("a regular file is refused and left alone")
    func regularFile() throws {
        let dir = try TemporaryDirectory()
        let file = dir.path + "/log"
        _ = FileManager.default.createFile(atPath: file, contents: Data("not a log".utf8))
        let error = #expect(throws: PerfLogError.self) { _ = try EventLog(path: file) }
        guard case .notALog = error else { Issue.record("expected notALog, got \(String(describing: error))"); return }
        #expect(try Data(contentsOf: URL(fileURLWithPath: file)) == Data("not a log".utf8))
    }

    @Test("a directory of other files is refused and left alone")
    func foreignDirectory() throws {
        let dir = try TemporaryDirectory()
        _ = FileManager.default.createFile(atPath: dir.path + "/notes.txt", contents: Data("hi".utf8))
        let before = try Snapshot(dir.path).files
        let error = #expect(throws: PerfLogError.self) { _ = try EventLog(path: dir.path) }
        guard case .notALog = error else { Issue.record("expected notALog, got \(String(describing: error))"); return }
        #expect(try Snapshot(dir.path).files == before)
    }

    @Test("a data.mdb that is not LMDB is refused and left alone")
    func foreignDataFile() throws {
        let dir = try TemporaryDirectory()
        _ = FileManager.default.createFile(atPath: dir.path + "/data.mdb", contents: Data(repeating: 0x5A, count: 16384))
        let before = try Snapshot(dir.path).files
        #expect(throws: PerfLogError.self) { _ = try EventLog(path: dir.path) }
        #expect(try Snapshot(dir.path).files == before)
    }

    @Test("an LMDB environment that is not a perflog log is refused")
    func foreignEnvironment() throws {
        let dir = try TemporaryDirectory()
        do {
            let env = try Environment(path: dir.path)
            try env.write { txn in try txn.put(try txn.openDatabase(nil), key: [1], value: [2]) }
        }
        let before = try Snapshot(dir.path).files.filter { $0.key != "lock.mdb" }
        let error = #expect(throws: PerfLogError.self) { _ = try EventLog(path: dir.path) }
        guard case .notALog = error else { Issue.record("expected notALog, got \(String(describing: error))"); return }
        #expect(try Snapshot(dir.path).files.filter { $0.key != "lock.mdb" } == before)
    }

    @Test("a log written by a newer schema is refused and left alone")
    func newerSchema() throws {
        let dir = try TemporaryDirectory()
        do {
            let log = try EventLog(path: dir.path)
            try log.environment.write { txn in
                try txn.put(try txn.openDatabase("meta"), key: Array("schema".utf8), value: [0, 0, 0, 9])
            }
        }
        let before = try Snapshot(dir.path).files.filter { $0.key != "lock.mdb" }
        let error = #expect(throws: PerfLogError.self) { _ = try EventLog(path: dir.path) }
        #expect(error == .newerSchema(path: dir.path, found: 9, supported: EventLog.schemaVersion))
        #expect(try Snapshot(dir.path).files.filter { $0.key != "lock.mdb" } == before)
    }

    @Test("a missing log is not created by a reader")
    func readerDoesNotCreate() throws {
        let dir = try TemporaryDirectory()
        var options = EventLog.Options()
        options.create = false
        let error = #expect(throws: PerfLogError.self) { _ = try EventLog(path: dir.path + "/missing", options: options) }
        #expect(error == .noLog(path: dir.path + "/missing"))
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/missing"))
    }

    @Test("a log is created with missing parent directories")
    func createsParents() throws {
        let dir = try TemporaryDirectory()
        let log = try EventLog(path: dir.path + "/a/b/c")
        #expect(log.retain == EventLog.defaultRetain)
        #expect(Environment.containsEnvironment(at: dir.path + "/a/b/c"))
    }
}
