import Foundation
import LMDB
import PerfLogTestSupport
import Testing

@Suite("Environment")
struct EnvironmentTests {
    @Test("a write commits and a read sees it")
    func writeThenRead() throws {
        let dir = try TemporaryDirectory()
        let env = try Environment(path: dir.path + "/env")
        let db = try env.write { try $0.openDatabase("items", flags: .create) }
        try env.write { txn in try txn.put(db, key: Array("a".utf8), value: [1, 2, 3]) }
        let value = try env.read { try $0.value(in: db, forKey: Array("a".utf8)) }
        #expect(value == [1, 2, 3])
        #expect(Environment.containsEnvironment(at: dir.path + "/env"))
    }

    struct Boom: Error {}

    @Test("a throw aborts the write")
    func throwAborts() throws {
        let dir = try TemporaryDirectory()
        let env = try Environment(path: dir.path)
        let db = try env.write { try $0.openDatabase("items", flags: .create) }
        #expect(throws: Boom.self) {
            try env.write { txn in
                try txn.put(db, key: [1], value: [1])
                throw Boom()
            }
        }
        #expect(try env.read { try $0.value(in: db, forKey: [1]) } == nil)
    }

    @Test("a full map grows and the write is replayed")
    func mapGrows() throws {
        let dir = try TemporaryDirectory()
        var options = Environment.Options()
        options.mapSize = 64 << 10
        let env = try Environment(path: dir.path, options: options)
        let db = try env.write { try $0.openDatabase("items", flags: .create) }
        var runs = 0
        let value = [UInt8](repeating: 7, count: 1000)
        try env.write { txn in
            runs += 1
            for i in 0..<4000 { try txn.put(db, key: withUnsafeBytes(of: UInt32(i).bigEndian, Array.init), value: value) }
        }
        #expect(runs > 1, "the first run must have hit MDB_MAP_FULL")
        #expect(env.info.mapSize > 64 << 10)
        let count = try env.read { try $0.statistics(db).entries }
        #expect(count == 4000)
    }

    @Test("a full map past the limit fails with MDB_MAP_FULL and keeps earlier commits")
    func mapLimit() throws {
        let dir = try TemporaryDirectory()
        var options = Environment.Options()
        options.mapSize = 64 << 10
        options.maxMapSize = 128 << 10
        let env = try Environment(path: dir.path, options: options)
        let db = try env.write { try $0.openDatabase("items", flags: .create) }
        try env.write { try $0.put(db, key: [0], value: [42]) }
        let big = [UInt8](repeating: 1, count: 4000)
        let error = #expect(throws: LMDBError.self) {
            try env.write { txn in
                for i in 0..<1000 { try txn.put(db, key: withUnsafeBytes(of: UInt32(i + 1).bigEndian, Array.init), value: big) }
            }
        }
        #expect(error?.code == .mapFull)
        #expect(try env.read { try $0.value(in: db, forKey: [0]) } == [42])
    }

    @Test("cursors walk keys in byte order, forwards and backwards")
    func cursorOrder() throws {
        let dir = try TemporaryDirectory()
        let env = try Environment(path: dir.path)
        let db = try env.write { try $0.openDatabase("items", flags: .create) }
        let keys: [[UInt8]] = [[3], [1], [2, 0], [2]]
        try env.write { txn in for k in keys { try txn.put(db, key: k, value: k) } }
        let (forward, backward, seeked) = try env.read { txn in
            try txn.withCursor(db) { c -> ([[UInt8]], [[UInt8]], [UInt8]?) in
                var f: [[UInt8]] = [], b: [[UInt8]] = []
                var e = try c.first()
                while let (k, _) = e { f.append(Array(k)); e = try c.next() }
                e = try c.last()
                while let (k, _) = e { b.append(Array(k)); e = try c.previous() }
                let s = try c.seek([2, 1]).map { Array($0.key) }
                return (f, b, s)
            }
        }
        #expect(forward == [[1], [2], [2, 0], [3]])
        #expect(backward == forward.reversed())
        #expect(seeked == [3])
    }

    @Test("delete reports whether the key existed")
    func deleteMissing() throws {
        let dir = try TemporaryDirectory()
        let env = try Environment(path: dir.path)
        let db = try env.write { try $0.openDatabase("items", flags: .create) }
        try env.write { try $0.put(db, key: [1], value: [1]) }
        #expect(try env.write { try $0.delete(db, key: [1]) })
        #expect(try env.write { try $0.delete(db, key: [1]) } == false)
    }

    @Test("errors carry the C code and the operation")
    func errorsCarryContext() throws {
        let dir = try TemporaryDirectory()
        let file = dir.path + "/plain"
        _ = FileManager.default.createFile(atPath: file, contents: Data("hello".utf8))
        let error = #expect(throws: LMDBError.self) { _ = try Environment(path: file) }
        #expect(error?.code == .notDirectory)
        #expect(error?.operation == "mkdir")
        #expect(error?.description.contains(file) == true)

        let env = try Environment(path: dir.path + "/env")
        let missing = #expect(throws: LMDBError.self) { try env.read { _ = try $0.openDatabase("nope") } }
        #expect(missing?.code == .notFound)
        #expect(missing?.operation == "mdb_dbi_open")
    }

    @Test("a foreign data.mdb is not taken for an environment")
    func foreignFile() throws {
        let dir = try TemporaryDirectory()
        _ = FileManager.default.createFile(atPath: dir.path + "/data.mdb", contents: Data(repeating: 0x41, count: 8192))
        #expect(!Environment.containsEnvironment(at: dir.path))
        #expect(!Environment.containsEnvironment(at: dir.path + "/missing"))
    }

    @Test("a compact copy holds the same data")
    func compactCopy() throws {
        let dir = try TemporaryDirectory()
        let env = try Environment(path: dir.path + "/a")
        let db = try env.write { try $0.openDatabase("items", flags: .create) }
        try env.write { txn in for i in 0..<1000 { try txn.put(db, key: withUnsafeBytes(of: UInt32(i).bigEndian, Array.init), value: [UInt8](repeating: 1, count: 100)) } }
        try env.write { txn in for i in 0..<900 { try txn.delete(db, key: withUnsafeBytes(of: UInt32(i).bigEndian, Array.init)) } }
        try FileManager.default.createDirectory(atPath: dir.path + "/b", withIntermediateDirectories: true)
        try env.copy(to: dir.path + "/b", compact: true)
        let copy = try Environment(path: dir.path + "/b")
        let copied = try copy.read { txn in try txn.statistics(try txn.openDatabase("items")).entries }
        #expect(copied == 100)
    }

    @Test("the library version is reported")
    func version() {
        #expect(Environment.libraryVersion.split(separator: ".").count == 3)
    }
}
