import Foundation
import PerfLogTestSupport
import Testing

/// The pages of an LMDB data file, found by walking its B-trees from the newer meta
/// page, independently of perflog's own checker: where the tests aim their damage.
struct LMDBPages {
    enum Kind: Hashable { case branch, leaf, overflow }

    static let pageSize = 4096
    /// The pages of each named database (and `""` for the main one), root first.
    var databases: [String: [(page: Int, kind: Kind)]] = [:]

    init(_ file: String) throws {
        let data = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
        func u16(_ at: Int) -> Int { Int(data[at]) | Int(data[at + 1]) << 8 }
        func u64(_ at: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(data[at + $1]) << (8 * $1) } }
        // MDB_meta after the 16-byte page header: magic, version, address, mapsize, then
        // the free and main MDB_db (48 bytes each; md_root at 40), last page, txnid.
        func meta(_ page: Int) -> (root: UInt64, txn: UInt64) {
            let dbs = page * Self.pageSize + 16 + 24
            return (u64(dbs + 48 + 40), u64(dbs + 96 + 8))
        }
        let m0 = meta(0), m1 = meta(1)
        let root = m1.txn > m0.txn ? m1.root : m0.root
        var named: [(String, UInt64)] = []
        func walk(_ root: UInt64, main: Bool) -> [(page: Int, kind: Kind)] {
            var out: [(page: Int, kind: Kind)] = []
            var stack = [root]
            while let p = stack.popLast() {
                guard p != UInt64.max, Int(p) < data.count / Self.pageSize else { continue }
                let o = Int(p) * Self.pageSize
                let flags = u16(o + 10), lower = u16(o + 12)
                let branch = flags & 1 != 0
                out.append((Int(p), branch ? .branch : .leaf))
                for i in 0..<max(0, (lower - 16) / 2) {
                    let node = o + u16(o + 16 + 2 * i)
                    let lo = u16(node), hi = u16(node + 2), nflags = u16(node + 4), ksize = u16(node + 6)
                    if branch {
                        stack.append(UInt64(lo) | UInt64(hi) << 16 | UInt64(nflags) << 32)
                    } else if nflags & 1 != 0 {
                        out.append((Int(u64(node + 8 + ksize)), .overflow))
                    } else if nflags & 2 != 0 && main {
                        let name = String(decoding: data[(node + 8)..<(node + 8 + ksize)], as: UTF8.self)
                        named.append((name, u64(node + 8 + ksize + 40)))
                    }
                }
            }
            return out
        }
        databases[""] = walk(root, main: true)
        for (name, root) in named { databases[name] = walk(root, main: false) }
    }

    /// The pages of `database` of kind `kind`.
    func pages(_ database: String, _ kind: Kind) -> [Int] {
        (databases[database] ?? []).filter { $0.kind == kind }.map(\.page)
    }
}

/// Damage done to a data file in place.
enum Damage {
    /// Inverts `count` bytes of page `page` from byte `offset`.
    static func flip(_ file: String, page: Int, offset: Int, count: Int) throws {
        try edit(file) { bytes in
            let start = page * LMDBPages.pageSize + offset
            for i in start..<min(start + count, bytes.count) { bytes[i] ^= 0xFF }
        }
    }

    /// Applies `body` to the whole file.
    static func edit(_ file: String, _ body: (inout [UInt8]) -> Void) throws {
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
        body(&bytes)
        try Data(bytes).write(to: URL(fileURLWithPath: file))
    }
}

/// The commands a user may run on a log, as the damage tests and the file fuzzer run
/// them, and what each may end with.
enum Battery {
    /// Every exit status perflog documents; anything else (a signal above all) is a bug.
    static let documentedStatuses: Set<Int32> = [0, 1, 64, 65, 66, 73, 74, 75]

    /// A command and its arguments (without `--log`).
    struct Command: CustomStringConvertible {
        var arguments: [String]
        /// Whether it may write the log (`project` keeps its checkpoint there).
        var writes: Bool
        /// Whether it must refuse a log noted damaged (exit 74); `exec` runs its command
        /// whatever the log's state and `project` falls back to reading.
        var refusesDamaged = false
        var description: String { arguments.joined(separator: " ") }
    }

    /// Every command, reading ones first; `scratch` holds their output files.
    static func commands(scratch: String) -> [Command] {
        let importFile = scratch + "/import.ndjson"
        if !FileManager.default.fileExists(atPath: importFile) {
            _ = FileManager.default.createFile(
                atPath: importFile,
                contents: Data("{\"time\":\"2026-01-19T20:50:24.123456Z\",\"kind\":\"measure\",\"agent\":\"imp\",\"cli\":\"c\",\"invocation\":\"1f\",\"pid\":1,\"durationMs\":5,\"outcome\":\"ok\"}\n".utf8))
        }
        var list: [Command] = [
            Command(arguments: ["info"], writes: false),
            Command(arguments: ["info", "--json"], writes: false),
            Command(arguments: ["tail", "-n", "5"], writes: false),
            Command(arguments: ["tail", "--json"], writes: false),
            Command(arguments: ["stats"], writes: false),
            Command(arguments: ["stats", "--json"], writes: false),
            Command(arguments: ["compare", "--agent", "stress-0"], writes: false),
            Command(arguments: ["project", "--out", scratch + "/projection.json"], writes: true),
        ]
        for format in ["ndjson", "json", "csv", "markdown", "openmetrics", "seed"] {
            list.append(Command(arguments: ["export", "--format", format], writes: false))
        }
        list += [
            Command(arguments: ["recover", "--out", scratch + "/recovered-\(UUID().uuidString)"], writes: false),
            Command(arguments: ["import", importFile], writes: true, refusesDamaged: true),
            Command(arguments: ["record", "--agent", "fuzz", "--cli", "c", "--duration", "1ms"], writes: true, refusesDamaged: true),
            Command(arguments: ["exec", "--agent", "fuzz", "--cli", "c", "--", "true"], writes: true),
            Command(arguments: ["check", "--repair"], writes: true, refusesDamaged: true),
            Command(arguments: ["compact"], writes: true, refusesDamaged: true),
            Command(arguments: ["rename", "--agent", "fuzz", "--to", "fuzzed"], writes: true, refusesDamaged: true),
            Command(arguments: ["forget", "--agent", "fuzzed", "--yes"], writes: true, refusesDamaged: true),
        ]
        return list
    }

    /// The bytes of `file`, hashed (FNV-1a, 64 bits): enough to tell a changed file.
    static func hash(_ file: String) -> UInt64? {
        guard let data = FileManager.default.contents(atPath: file) else { return nil }
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in data { h = (h ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return h ^ UInt64(data.count)
    }

    /// Starts `perflog serve` on the log, sends it one line, stops it with SIGTERM and
    /// returns its exit status (128+N for a signal). A service that refuses to start
    /// returns its status at once.
    static func serveBriefly(log: String, socket: String) throws -> (status: Int32, stderr: String) {
        let process = try RunningCLI(["serve", "--log", log, "--socket", socket, "--json"])
        if process.output.waitForLine(timeout: 30, where: { $0.hasPrefix("{\"socket\":") }) != nil {
            let line = "{\"kind\":\"measure\",\"agent\":\"srv\",\"cli\":\"c\",\"durationMs\":3,\"outcome\":\"ok\"}\n"
            // The line and its reply, at most 10 s each; a failure only ends the visit early.
            if let client = try? Client.unix(socket), (try? client.write(line, timeout: 10)) != nil {
                _ = client.nextLine(until: Date(timeIntervalSinceNow: 10))
            }
            process.send(SIGTERM)
        }
        return process.wait()
    }
}
