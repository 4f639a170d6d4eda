import Foundation
import LMDB
import PerfLog
import PerfLogTestSupport
import Testing

/// `mdb_stat -a -f -e` (lmdb-utils): LMDB's own records of each tree, the pages its free
/// list names, and the pages in use, as lines `name: depth … entries …`.
func mdbStat(_ log: String) throws -> (trees: Set<String>, free: Int, used: Int) {
    let text = try runSucceeding("/usr/bin/mdb_stat", ["-a", "-f", "-e", log])
    var trees: Set<String> = [], free = 0, used = 0
    var name = "", fields: [String] = []
    func flush() { if !name.isEmpty { trees.insert(name + ": " + fields.joined(separator: " ")) }; fields = [] }
    for line in text.split(separator: "\n").map({ $0.trimmingCharacters(in: .whitespaces) }) {
        if line == "Freelist Status" { flush(); name = "free list"; continue }
        if line.hasPrefix("Status of ") { flush(); name = line == "Status of Main DB" ? "main" : String(line.dropFirst(10)); continue }
        let pair = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
        guard pair.count == 2, let value = Int(pair[1]) else { continue }
        switch pair[0] {
        case "Number of pages used": used = value
        case "Free pages": free = value
        case "Tree depth", "Branch pages", "Leaf pages", "Overflow pages", "Entries": fields.append("\(value)")
        default: break
        }
    }
    flush()
    return (trees, free, used)
}

/// The log is healthy: `check` says ok, every reading command reads it, and the page
/// walk agrees with `mdb_stat`'s independent figures.
func expectHealthy(_ log: String, _ label: String) throws {
    let check = try CLI.run(["check", "--log", log])
    #expect(check.status == 0, "\(label): check: \(check)")
    for command in [["info"], ["tail"], ["stats", "--agent", "stress-0", "--cli", "claude"], ["stats"], ["export", "--format", "ndjson"]] {
        let r = try CLI.run(command + ["--log", log])
        #expect(r.status == 0, "\(label): \(command): \(r.status) \(r.stderr)")
    }
    let walk = try #require(try Environment.walkPages(in: log))
    #expect(walk.problems.isEmpty, "\(label): \(walk.problems)")
    let stat = try mdbStat(log)
    let mine = Set(walk.trees.map { "\($0.name): \($0.depth) \($0.branchPages) \($0.leafPages) \($0.overflowPages) \($0.entries)" })
    #expect(mine == stat.trees, "\(label): walk \(mine.subtracting(stat.trees)) mdb_stat \(stat.trees.subtracting(mine))")
    #expect(walk.freePages == stat.free && walk.lastPage + 1 == stat.used, "\(label): free \(walk.freePages) vs \(stat.free)")
    #expect(2 + walk.reachedPages + walk.freePages == walk.lastPage + 1, "\(label): pages unaccounted for")
}

/// The scale of the long pass (`tools/fuzz` sets `PERFLOG_FUZZ_ITERATIONS`).
let longPass = ProcessInfo.processInfo.environment["PERFLOG_FUZZ_ITERATIONS"] != nil

@Suite("healthy logs are never reported damaged", .serialized)
struct PageCheckTests {
    @Test("two stress runs, then check --repair: check is clean and every command reads the log")
    func twoRunsThenRepair() throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("log")
        try StressTool.run(["--log", log, "--events", "20000", "--streams", "50", "--batch", "10", "--seed", "1"])
        try StressTool.run(["--log", log, "--events", "3000", "--streams", "10", "--marks", "--batch", "1", "--seed", "2"])
        let repair = try CLI.run(["check", "--repair", "--log", log])
        #expect(repair.status == 0, "\(repair)")
        try expectHealthy(log, "after repair")
    }

    /// The full size (200,000 commits) runs in the long pass; tools/test runs 20,000.
    @Test("one writer, retain 10,000, 4 streams, batch 1: check is clean and every command reads the log")
    func longSingleWriter() throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("log")
        let commits = longPass ? 200_000 : 20_000
        try StressTool.run(["--log", log, "--events", "\(commits)", "--streams", "4", "--batch", "1", "--retain", "10000",
                        "--durability", "fast", "--seed", "3"])
        try expectHealthy(log, "\(commits) commits")
        let repair = try CLI.run(["check", "--repair", "--log", log])
        #expect(repair.status == 0, "\(repair)")
        try expectHealthy(log, "after repair")
    }

    static var seeds: [UInt64] { Array(0..<UInt64(longPass ? 40 : 6)) }

    /// A number between `low` and `high`, spread evenly over orders of magnitude.
    static func logUniform(_ low: Int, _ high: Int, _ rng: inout SplitMix64) -> Int {
        let x = log(Double(low)) + Double(rng.next() % 1_000_000) / 1_000_000 * (log(Double(high)) - log(Double(low)))
        return min(high, max(low, Int(exp(x).rounded())))
    }

    @Test("random workloads, repairs and compactions: check is clean after every step", arguments: seeds)
    func randomWorkloads(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed &* 0x9E37_79B9 &+ 11)
        let dir = try TemporaryDirectory()
        let log = dir.file("log")
        let maxEvents = longPass ? 400_000 : 10_000
        let retain = PageCheckTests.logUniform(1, 1_000_000, &rng)
        for step in 0..<(2 + Int(rng.next() % 3)) {
            let streams = PageCheckTests.logUniform(1, 10_000, &rng)
            let events = PageCheckTests.logUniform(1, maxEvents, &rng)
            // Few commits per run: batch 1 is for small runs.
            let batch = max(PageCheckTests.logUniform(1, 50_000, &rng), events / (longPass ? 20_000 : 300))
            var arguments = ["--log", log, "--events", "\(events)", "--streams", "\(streams)", "--batch", "\(batch)",
                             "--retain", "\(retain)", "--durability", "fast", "--seed", "\(rng.next() % 1_000_000)"]
            if rng.next() % 2 == 0 { arguments.append("--marks") }
            try StressTool.run(arguments)
            if rng.next() % 2 == 0 {
                // Large metadata: 16 values of 256 bytes put an event on overflow pages.
                let meta = (0..<16).flatMap { k in ["--meta", "k\(k)=" + String(repeating: "v\(step)", count: 128)] }
                for i in 0..<(1 + Int(rng.next() % 5)) {
                    let r = try CLI.run(["record", "--agent", "meta-\(i % 3)", "--cli", "c", "--duration", "\(i + 1)ms", "--log", log] + meta)
                    #expect(r.status == 0, "\(r)")
                }
            }
            let label = "seed \(seed) step \(step): \(arguments.dropFirst(2).joined(separator: " "))"
            try expectHealthy(log, label)
            switch rng.next() % 4 {
            case 0:
                let r = try CLI.run(["check", "--repair", "--log", log])
                #expect(r.status == 0, "\(label): repair: \(r)")
            case 1:
                let newRetain = rng.next() % 2 == 0 ? [] : ["--retain", "\(PageCheckTests.logUniform(1, 1_000_000, &rng))"]
                let r = try CLI.run(["compact", "--log", log] + newRetain)
                #expect(r.status == 0, "\(label): compact: \(r)")
            default: continue
            }
            try expectHealthy(log, label + " then maintenance")
        }
    }

    @Test("check reports damage on a page in use, exit 1, naming the page; readers refuse it with 74 when the head is damaged")
    func damageIsReported() throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("log")
        try StressTool.run(["--log", log, "--events", "3000", "--streams", "20", "--batch", "10", "--seed", "5"])
        let walk = try #require(try Environment.walkPages(in: log))
        let events = try #require(walk.tree("events"))
        #expect(events.depth >= 2)
        // The newer meta page's root of the main database, and a page in use that is not a root.
        let data = log + "/data.mdb"
        let bytes = try Data(contentsOf: URL(fileURLWithPath: data))
        func u64(_ at: Int) -> Int { bytes[at..<(at + 8)].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) } }
        let newer = u64(144) > u64(4096 + 144) ? 0 : 4096
        let mainRoot = u64(newer + 128)
        var damaged = bytes
        damaged[mainRoot * 4096 + 1] ^= 0x40
        try damaged.write(to: URL(fileURLWithPath: data))
        let check = try CLI.run(["check", "--log", log])
        #expect(check.status == 1 && check.stdout.contains("page \(mainRoot)"), "\(check)")
        for command in [["info"], ["tail"], ["stats"], ["export", "--format", "ndjson"]] {
            let r = try CLI.run(command + ["--log", log])
            #expect(r.status == 74 && r.stderr.contains("damaged"), "\(command): \(r)")
        }
    }
}
