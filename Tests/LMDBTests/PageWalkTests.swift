import Foundation
import LMDB
import PerfLogTestSupport
import Testing

/// What `mdb_stat -a -f -e` (lmdb-utils) says of an environment: LMDB's own records of
/// every tree, the free pages its free list names, and the pages in use.
struct IndependentStat {
    struct Tree: Equatable, CustomStringConvertible {
        var depth = 0, branch = 0, leaf = 0, overflow = 0, entries = 0
        var description: String { "depth \(depth) branch \(branch) leaf \(leaf) overflow \(overflow) entries \(entries)" }
    }
    var trees: [String: Tree] = [:]
    var freePages = 0
    var pagesUsed = 0
    /// Page numbers the free list names (`mdb_stat -fff`).
    var freeList: Set<Int> = []

    init(_ directory: String) throws {
        let text = try runSucceeding("/usr/bin/mdb_stat", ["-a", "-fff", "-e", directory])
        var current: String?
        for raw in text.split(separator: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line == "Freelist Status" { current = "free list"; trees[current!] = Tree(); continue }
            if line.hasPrefix("Status of ") {
                let name = String(line.dropFirst("Status of ".count))
                current = name == "Main DB" ? "main" : name
                trees[current!] = Tree()
                continue
            }
            if raw.hasPrefix("     ") && !line.contains(":") {
                // A run of free pages: `first` or `first[count]`.
                let parts = line.split(separator: "[")
                let first = Int(parts[0]) ?? -1
                let count = parts.count > 1 ? Int(parts[1].dropLast()) ?? 1 : 1
                for p in first..<(first + count) { freeList.insert(p) }
                continue
            }
            let pair = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard pair.count == 2, let value = Int(pair[1]) else { continue }
            switch pair[0] {
            case "Number of pages used": pagesUsed = value
            case "Free pages": freePages = value
            case "Tree depth": trees[current!]?.depth = value
            case "Branch pages": trees[current!]?.branch = value
            case "Leaf pages": trees[current!]?.leaf = value
            case "Overflow pages": trees[current!]?.overflow = value
            case "Entries": trees[current!]?.entries = value
            default: break
            }
        }
    }
}

/// A deterministic generator for reproducible workloads.
struct Mix64 {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(1, n))) }
    mutating func bytes(_ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8(truncatingIfNeeded: next()) } }
}

/// The walker's counts must be LMDB's own: compares a walk with `mdb_stat`.
func expectAgrees(_ walk: PageWalk, _ stat: IndependentStat, _ label: String) {
    #expect(walk.problems.isEmpty, "\(label): \(walk.problems)")
    #expect(walk.freePages == stat.freePages, "\(label): free pages")
    #expect(walk.lastPage + 1 == stat.pagesUsed, "\(label): pages used")
    // Every page up to the last is a meta page, in use, or free: nothing leaks.
    #expect(2 + walk.reachedPages + walk.freePages == walk.lastPage + 1, "\(label): pages unaccounted for")
    #expect(Set(walk.trees.map(\.name)) == Set(stat.trees.keys), "\(label): trees")
    for tree in walk.trees {
        let mine = IndependentStat.Tree(
            depth: tree.depth, branch: tree.branchPages, leaf: tree.leafPages, overflow: tree.overflowPages,
            entries: tree.entries)
        #expect(mine == stat.trees[tree.name], "\(label): \(tree.name)")
    }
}

/// Hex for `mdb_load`'s bytevalue format.
func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

@Suite("Page walk")
struct PageWalkTests {
    /// A random workload through the wrapper: named databases, keys of 1 to 400 bytes,
    /// values up to 20 KB (overflow runs), deletes and rewrites over several commits.
    static func randomEnvironment(at path: String, seed: UInt64) throws {
        var rng = Mix64(state: seed)
        var options = Environment.Options()
        options.maxDatabases = 16
        let env = try Environment(path: path, options: options)
        let names = (0..<(1 + rng.below(6))).map { "db\($0)" }
        var keys: [[UInt8]] = []
        for _ in 0..<(1 + rng.below(12)) {
            try env.write { txn in
                for _ in 0..<rng.below(600) {
                    let db = try txn.openDatabase(names[rng.below(names.count)], flags: .create)
                    let key = rng.bytes(1 + rng.below(rng.below(4) == 0 ? 400 : 16))
                    let big = rng.below(20) == 0
                    try txn.put(db, key: key, value: rng.bytes(big ? rng.below(20_000) : rng.below(300)))
                    keys.append(key)
                }
                for _ in 0..<rng.below(keys.count / 2 + 1) where !keys.isEmpty {
                    let db = try txn.openDatabase(names[rng.below(names.count)], flags: .create)
                    _ = try txn.delete(db, key: keys[rng.below(keys.count)])
                }
            }
        }
    }

    @Test("counts equal mdb_stat's on random environments, and nothing is reported", arguments: 0..<24)
    func agreesWithMdbStat(seed: Int) throws {
        let dir = try TemporaryDirectory()
        let path = dir.path + "/env"
        try PageWalkTests.randomEnvironment(at: path, seed: UInt64(seed))
        let walk = try #require(try Environment.walkPages(in: path))
        expectAgrees(walk, try IndependentStat(path), "seed \(seed)")
        // Pinned by a read transaction of an open environment: the same walk.
        let env = try Environment(path: path)
        #expect(try env.walkPages() == walk)
        try env.checkHead()
    }

    @Test("sorted duplicates: sub-pages, sub-databases, fixed-size duplicates", arguments: [
        (dupfixed: false, values: 3), (dupfixed: false, values: 400), (dupfixed: true, values: 5), (dupfixed: true, values: 3000),
    ])
    func duplicates(dupfixed: Bool, values: Int) throws {
        let dir = try TemporaryDirectory()
        let path = dir.path + "/env"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        var rng = Mix64(state: UInt64(values))
        var text = "VERSION=3\nformat=bytevalue\ndatabase=dups\ntype=btree\ndupsort=1\n"
        if dupfixed { text += "dupfixed=1\n" }
        text += "HEADER=END\n"
        for k in 0..<60 {
            let key = Array("key-\(k)".utf8)
            // Sorted, distinct duplicates: many per key turn a sub-page into a sub-database.
            let count = k % 3 == 0 ? values : 1 + rng.below(4)
            for v in 0..<count {
                var value = withUnsafeBytes(of: UInt32(v).bigEndian, Array.init)
                if !dupfixed { value += rng.bytes(rng.below(40)) }
                text += " \(hex(key))\n \(hex(value))\n"
            }
        }
        text += "DATA=END\n"
        try runSucceeding("/usr/bin/mdb_load", [path], input: text)
        let walk = try #require(try Environment.walkPages(in: path))
        expectAgrees(walk, try IndependentStat(path), "dupfixed \(dupfixed), \(values)")
        if values > 100 { #expect((walk.tree("dups")?.duplicatePages ?? 0) > 0, "no sub-database was made") }
    }
}

/// A page of a quiescent environment and what is known of it independently of the
/// walker: its header, and whether `mdb_stat -fff` lists it as free.
struct FilePage {
    var number: Int
    var flags: UInt16
    var free: Bool
}

/// Damage on a reachable page must be found; the same bytes on a free page must not be.
@Suite("Page walk finds damage")
struct PageDamageTests {
    static let pageSize = 4096

    /// An environment with a tree of depth ≥ 2 (branch pages), overflow runs, and free
    /// pages (deletes, rewrites); returns its file and pages.
    static func environment(_ dir: TemporaryDirectory) throws -> (path: String, pages: [FilePage], bytes: Data) {
        let path = dir.path + "/env"
        var rng = Mix64(state: 7)
        let env = try Environment(path: path)
        for round in 0..<6 {
            try env.write { txn in
                let db = try txn.openDatabase("items", flags: .create)
                for i in 0..<1500 {
                    try txn.put(db, key: Array("key-\(round % 2)-\(i)".utf8), value: rng.bytes(i % 97 == 0 ? 9000 : 60))
                }
                for i in stride(from: 0, to: 1500, by: 3) { _ = try txn.delete(db, key: Array("key-\((round + 1) % 2)-\(i)".utf8)) }
            }
        }
        env.close()
        let stat = try IndependentStat(path)
        #expect(stat.freePages > 0 && (stat.trees["items"]?.branch ?? 0) > 0)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path + "/data.mdb"))
        var pages: [FilePage] = []
        for n in 2..<stat.pagesUsed where (n + 1) * pageSize <= bytes.count {
            let base = n * pageSize
            let number = bytes[base..<(base + 8)].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
            let flags = UInt16(bytes[base + 10]) | UInt16(bytes[base + 11]) << 8
            if number == n { pages.append(FilePage(number: n, flags: flags, free: stat.freeList.contains(n))) }
        }
        return (path, pages, bytes)
    }

    struct Damage: CustomStringConvertible, Sendable {
        var name: String
        /// Which page kind it needs: 1 branch, 2 leaf.
        var kind: UInt16
        /// What the report must say.
        var expected: String
        var apply: @Sendable (inout Data, Int, Int) -> Void
        var description: String { name }
    }

    static func put16(_ d: inout Data, _ at: Int, _ v: Int) {
        d[at] = UInt8(v & 0xFF)
        d[at + 1] = UInt8((v >> 8) & 0xFF)
    }

    static let damages: [Damage] = [
        Damage(name: "flipped page number", kind: 2, expected: "says it is page") { d, base, _ in d[base + 1] ^= 0x40 },
        Damage(name: "bad flags", kind: 2, expected: "where a leaf page belongs") { d, base, _ in put16(&d, base + 10, 0x04) },
        Damage(name: "lower above upper", kind: 2, expected: "has bounds") { d, base, _ in
            let upper = Int(d[base + 14]) | Int(d[base + 15]) << 8
            put16(&d, base + 12, upper + 2)
        },
        Damage(name: "node offset out of the page", kind: 2, expected: "node 0 is at offset") { d, base, _ in
            put16(&d, base + 16, pageSize - 4)
        },
        Damage(name: "key size past the page end", kind: 2, expected: "key of 65535 bytes") { d, base, _ in
            let offset = Int(d[base + 16]) | Int(d[base + 17]) << 8
            put16(&d, base + offset + 6, 0xFFFF)
        },
        Damage(name: "child past the last page", kind: 1, expected: "outside pages 2…") { d, base, _ in
            let offset = Int(d[base + 16]) | Int(d[base + 17]) << 8
            put16(&d, base + offset, 0xFFFF)
            put16(&d, base + offset + 2, 0x7FFF)
        },
        Damage(name: "a cycle", kind: 1, expected: "reached twice") { d, base, page in
            let offset = Int(d[base + 18]) | Int(d[base + 19]) << 8  // node 1 points back at its own page
            put16(&d, base + offset, page & 0xFFFF)
            put16(&d, base + offset + 2, page >> 16)
            put16(&d, base + offset + 4, 0)
        },
    ]

    @Test("damage on a reachable page is found; the same bytes on a free page are not", arguments: damages)
    func damage(_ damage: Damage) throws {
        let dir = try TemporaryDirectory()
        let (path, pages, original) = try PageDamageTests.environment(dir)
        let file = URL(fileURLWithPath: path + "/data.mdb")
        let used = try #require(pages.first { !$0.free && $0.flags & 0x3F == damage.kind })
        var bytes = original
        damage.apply(&bytes, used.number * PageDamageTests.pageSize, used.number)
        try bytes.write(to: file)
        let walk = try #require(try Environment.walkPages(in: path))
        let found = walk.problems.first { $0.page == used.number }
        #expect(found?.what.contains(damage.expected) == true, "page \(used.number): \(walk.problems)")

        // A free page that looks like the same kind: damaging it changes nothing.
        let free = try #require(pages.first { $0.free && $0.flags & 0x3F == damage.kind } ?? pages.first { $0.free })
        bytes = original
        damage.apply(&bytes, free.number * PageDamageTests.pageSize, free.number)
        try bytes.write(to: file)
        let clean = try #require(try Environment.walkPages(in: path))
        #expect(clean.problems.isEmpty, "free page \(free.number): \(clean.problems)")
    }

    @Test("a truncated file is found, by the walk and by the cheap check at open")
    func truncated() throws {
        let dir = try TemporaryDirectory()
        let (path, pages, original) = try PageDamageTests.environment(dir)
        let file = URL(fileURLWithPath: path + "/data.mdb")
        // Cut just before the last page in use.
        let last = try #require(pages.last { !$0.free })
        try original.prefix(last.number * PageDamageTests.pageSize).write(to: file)
        let walk = try #require(try Environment.walkPages(in: path))
        #expect(walk.problems.contains { $0.what.contains("truncated") }, "\(walk.problems)")
        let error = #expect(throws: LMDBError.self) { _ = try Environment(path: path) }
        #expect(error?.code == .corrupted && error?.description.contains("truncated") == true, "\(String(describing: error))")
        // Only free pages cut off: nothing is wrong.
        let firstFreeTail = (pages.last { !$0.free }?.number ?? 0) + 1
        if firstFreeTail * PageDamageTests.pageSize < original.count {
            try original.prefix(firstFreeTail * PageDamageTests.pageSize).write(to: file)
            let tail = try #require(try Environment.walkPages(in: path))
            #expect(tail.problems.isEmpty, "\(tail.problems)")
        }
    }

    @Test("the cheap check reads the head only: a damaged root is refused at open, a damaged leaf below is left to the walk")
    func cheapCheck() throws {
        let dir = try TemporaryDirectory()
        let (path, pages, original) = try PageDamageTests.environment(dir)
        let file = URL(fileURLWithPath: path + "/data.mdb")
        let walk = try #require(try Environment.walkPages(in: path))
        #expect(walk.problems.isEmpty)
        // The newer meta page's roots (MDB_meta after the page header: the free list's
        // MDB_db at 40, the main one at 88, md_root 40 bytes into each, txnid at 144).
        func u64(_ at: Int) -> Int { original[at..<(at + 8)].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) } }
        let meta = try #require((0..<2).map { m in (txn: u64(m * 4096 + 144), free: u64(m * 4096 + 80), main: u64(m * 4096 + 128)) }
            .max { $0.txn < $1.txn })
        // A leaf below the root of "items" (a branch page): the cheap check does not read it.
        let leaf = try #require(pages.first { !$0.free && $0.flags & 0x3F == 2 && $0.number != meta.main && $0.number != meta.free })
        var bytes = original
        bytes[leaf.number * PageDamageTests.pageSize + 1] ^= 0x40
        try bytes.write(to: file)
        let env = try Environment(path: path)
        #expect(throws: Never.self) { try env.checkHead() }
        let deep = try env.walkPages()
        #expect(deep.problems.contains { $0.page == leaf.number }, "\(deep.problems)")
        env.close()

        // The main database's root: refused at open.
        bytes = original
        bytes[meta.main * PageDamageTests.pageSize + 1] ^= 0x40
        try bytes.write(to: file)
        let error = #expect(throws: LMDBError.self) { _ = try Environment(path: path) }
        #expect(error?.code == .corrupted && error?.description.contains("page \(meta.main)") == true, "\(String(describing: error))")
    }
}
