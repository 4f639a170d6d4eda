import Foundation
import PerfLogTestSupport
import Synchronization
import Testing

/// Mutated log files × every command: healthy logs from varied workloads, damaged the
/// ways disks and people damage files (bytes flipped in page headers, node bodies, node
/// offsets, overflow pages and meta pages; truncation; zeroed pages), and every command
/// run on each. No command may die of a signal or end with an undocumented status, a
/// reading command never changes `data.mdb`, and once a log is reported damaged
/// (`check` says so, or a command left the damage note) no command changes it.
///
/// `PERFLOG_FILE_FUZZ_LOGS` sets how many mutated logs (a few dozen by default, the
/// short pass of `tools/test`; `tools/fuzz files N` runs N in release mode),
/// `PERFLOG_FILE_FUZZ_JOBS` how many run at once, `PERFLOG_FILE_FUZZ_SEED` the seed
/// (printed, so that a finding can be replayed).
@Suite("File fuzzing: mutated logs through every command", .serialized)
struct FileFuzzTests {
    static let environment = ProcessInfo.processInfo.environment
    static let logs = environment["PERFLOG_FILE_FUZZ_LOGS"].flatMap { Int($0) } ?? 24
    static let jobs = max(1, environment["PERFLOG_FILE_FUZZ_JOBS"].flatMap { Int($0) } ?? 2)
    static let seed = environment["PERFLOG_FILE_FUZZ_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 1...UInt64.max)

    /// A healthy log of the corpus and the pages an independent walk found in it.
    struct Specimen: Sendable {
        var name: String
        var data: Data
        var headers: [Int]
        var leaves: [Int]
        var branches: [Int]
        var overflows: [Int]
    }

    /// What the run saw, for the summary and the verdict.
    struct Tally {
        var logs = 0
        var runs = 0
        var reportedDamaged = 0
        var statuses: [Int32: Int] = [:]
        var findings: [String] = []
    }

    @Test("no signal death, documented statuses, a log reported damaged is never modified", .timeLimit(.minutes(600)))
    func mutatedLogs() throws {
        let scratch = try TemporaryDirectory(prefix: "pl-filefuzz")
        let corpus = try Self.corpus(in: scratch.path)
        print("file fuzzing: \(Self.logs) mutated logs from \(corpus.count) healthy ones, seed \(Self.seed), \(Self.jobs) at once")
        let tally = Mutex(Tally())
        let root = scratch.path
        DispatchQueue.concurrentPerform(iterations: Self.jobs) { worker in
            var index = worker
            while index < Self.logs {
                let one = Self.fuzzOne(index: index, corpus: corpus, scratch: root)
                tally.withLock { t in
                    t.logs += 1
                    t.runs += one.runs
                    if one.reportedDamaged { t.reportedDamaged += 1 }
                    for (s, n) in one.statuses { t.statuses[s, default: 0] += n }
                    t.findings += one.findings
                    // A long run says how far it is, and what it found as it finds it.
                    var progress = one.findings.map { "file fuzzing: finding: \($0)\n" }.joined()
                    if t.logs % 250 == 0 { progress += "file fuzzing: \(t.logs) of \(Self.logs) logs, \(t.findings.count) findings\n" }
                    if !progress.isEmpty { Self.progress(progress) }
                }
                index += Self.jobs
            }
        }
        let result = tally.withLock { $0 }
        print("file fuzzing: \(result.logs) logs, \(result.runs) command runs, \(result.reportedDamaged) reported damaged by check; statuses \(result.statuses.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", "))")
        for finding in result.findings.prefix(50) { Issue.record(Comment(rawValue: finding)) }
        #expect(result.findings.isEmpty, "\(result.findings.count) findings (seed \(Self.seed))")
    }

    /// Where a long run writes how far it is and what it found, as it goes
    /// (`PERFLOG_FILE_FUZZ_PROGRESS`, a file appended to; standard error without it):
    /// the test runner shows a test's output only when it ends.
    static let progressPath = environment["PERFLOG_FILE_FUZZ_PROGRESS"]

    static func progress(_ text: String) {
        guard let progressPath, let handle = FileHandle(forWritingAtPath: progressPath)
            ?? (FileManager.default.createFile(atPath: progressPath, contents: nil) ? FileHandle(forWritingAtPath: progressPath) : nil)
        else { return FileHandle.standardError.write(Data(text.utf8)) }
        handle.seekToEndOfFile()
        handle.write(Data(text.utf8))
        try? handle.close()
    }

    /// What one mutated log did.
    struct One {
        var runs = 0
        var reportedDamaged = false
        var statuses: [Int32: Int] = [:]
        var findings: [String] = []
    }

    static func fuzzOne(index: Int, corpus: [Specimen], scratch: String) -> One {
        var one = One()
        var random = Generator(seed: seed &+ UInt64(index) &* 0x9E37_79B9_7F4A_7C15)
        let specimen = corpus[random.below(corpus.count)]
        let dir = scratch + "/m\(index)"
        let log = dir + "/log"
        let data = log + "/data.mdb"
        let marker = log + "/perflog.damaged"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            try FileManager.default.createDirectory(atPath: log, withIntermediateDirectories: true)
            var bytes = [UInt8](specimen.data)
            let mutation = mutate(&bytes, specimen, &random)
            try Data(bytes).write(to: URL(fileURLWithPath: data))
            let what = "log \(index) (seed \(seed), \(specimen.name), \(mutation))"

            func note(_ command: String, _ status: Int32, _ stderr: String) {
                one.runs += 1
                one.statuses[status, default: 0] += 1
                if !Battery.documentedStatuses.contains(status) {
                    one.findings.append("\(what): `perflog \(command)` ended with status \(status)\(status > 128 ? " (signal \(status - 128))" : ""): \(stderr.prefix(300))")
                }
            }

            // check first: is the log reported damaged?
            let check = try CLI.run(["check", "--log", log])
            note("check", check.status, check.stderr)
            var frozen: UInt64?
            let reported = check.status == 74 || FileManager.default.fileExists(atPath: marker)
                || check.stdout.contains("  data.mdb: ")
            if reported {
                one.reportedDamaged = true
                frozen = Battery.hash(data)
            }
            for command in Battery.commands(scratch: dir) {
                let before = Battery.hash(data)
                let markedBefore = FileManager.default.fileExists(atPath: marker)
                // --log first: after exec's `--` it would be the command's argument, and
                // exec would record into the log of the directory the tests run in.
                let r = try CLI.run(["--log", log] + command.arguments)
                note(command.description, r.status, r.stderr)
                let after = Battery.hash(data)
                if !command.writes && after != before {
                    one.findings.append("\(what): reading command `perflog \(command)` changed data.mdb")
                }
                if let frozen, after != frozen {
                    one.findings.append("\(what): `perflog \(command)` changed data.mdb of a log reported damaged (status \(r.status))")
                }
                if command.refusesDamaged && markedBefore && r.status != 74 {
                    one.findings.append("\(what): `perflog \(command)` did not refuse a log noted damaged (status \(r.status))")
                }
                if frozen == nil && FileManager.default.fileExists(atPath: marker) { frozen = after }
            }
            let serve = try Battery.serveBriefly(log: log, socket: dir + "/s.sock")
            note("serve", serve.status, serve.stderr)
            if let frozen, Battery.hash(data) != frozen {
                one.findings.append("\(what): `perflog serve` changed data.mdb of a log reported damaged (status \(serve.status))")
            }
        } catch {
            one.findings.append("log \(index): the harness failed: \(error)")
        }
        return one
    }

    /// Damages `bytes` one of the ways files get damaged; returns what it did.
    static func mutate(_ bytes: inout [UInt8], _ s: Specimen, _ random: inout Generator) -> String {
        let ps = LMDBPages.pageSize
        let pageCount = bytes.count / ps
        func flip(_ at: Int, _ count: Int) {
            for i in at..<min(at + count, bytes.count) { bytes[i] ^= UInt8(truncatingIfNeeded: random.next() | 1) }
        }
        func pick(_ pages: [Int]) -> Int { pages.isEmpty ? 2 + random.below(max(1, pageCount - 2)) : pages[random.below(pages.count)] }
        switch random.below(9) {
        case 0:
            let p = pick(s.headers)
            let at = random.below(16)
            flip(p * ps + at, 1 + random.below(4))
            return "page header of page \(p) at byte \(at)"
        case 1:
            let p = pick(s.leaves)
            let count = [1, 8, 256][random.below(3)]
            let at = 16 + random.below(ps - 16)
            flip(p * ps + at, count)
            return "\(count) bytes of leaf page \(p) from byte \(at)"
        case 2:
            let p = pick(s.leaves + s.branches)
            let lower = Int(bytes[p * ps + 12]) | Int(bytes[p * ps + 13]) << 8
            let slots = max(1, (lower - 16) / 2)
            let slot = random.below(slots)
            flip(p * ps + 16 + 2 * slot, 2)
            return "node offset \(slot) of page \(p)"
        case 3:
            let p = pick(s.overflows)
            let at = random.below(ps)
            flip(p * ps + at, 1 + random.below(64))
            return "overflow page \(p) at byte \(at)"
        case 4:
            let p = random.below(2)
            let at = 16 + random.below(160)
            flip(p * ps + at, 1 + random.below(8))
            return "meta page \(p) at byte \(at)"
        case 5:
            let keep = random.below(2) == 0 ? ps * random.below(pageCount + 1) : random.below(bytes.count)
            bytes.removeLast(bytes.count - keep)
            return "truncated to \(keep) bytes"
        case 6:
            let p = pick(s.leaves + s.branches + s.overflows)
            for i in (p * ps)..<min((p + 1) * ps, bytes.count) { bytes[i] = 0 }
            return "page \(p) zeroed"
        case 7:
            let p = pick(s.branches.isEmpty ? s.leaves : s.branches)
            let at = 16 + random.below(ps - 16)
            flip(p * ps + at, 1 + random.below(16))
            return "branch page \(p) at byte \(at)"
        default:
            var at: [Int] = []
            for _ in 0..<(1 + random.below(8)) {
                let i = random.below(bytes.count)
                at.append(i)
                flip(i, 1)
            }
            return "bytes at \(at)"
        }
    }

    /// Healthy logs from varied workloads: ring sizes, batches, streams, marks,
    /// metadata big enough for overflow pages, after repair and compaction.
    static func corpus(in scratch: String) throws -> [Specimen] {
        let workloads: [(String, [String])] = [
            ("marks, 10 streams, batch 50, retain 1000", ["--events", "3000", "--streams", "10", "--batch", "50", "--retain", "1000", "--marks"]),
            ("1 stream, batch 1, retain 5", ["--events", "1500", "--streams", "1", "--batch", "1", "--retain", "5"]),
            ("60 streams, batch 500, retain 100", ["--events", "6000", "--streams", "60", "--batch", "500", "--retain", "100"]),
            ("recorder, 4 streams, retain 50", ["--events", "2000", "--streams", "4", "--batch", "100", "--retain", "50", "--recorder"]),
        ]
        var out: [Specimen] = []
        for (i, (name, arguments)) in workloads.enumerated() {
            let log = scratch + "/corpus\(i)"
            try StressTool.run(["--log", log, "--seed", "\(i + 1)"] + arguments)
            if i == 1 {
                _ = try CLI.run(["check", "--repair", "--log", log])
                _ = try CLI.run(["compact", "--log", log])
                try StressTool.run(["--log", log, "--seed", "9", "--events", "500", "--streams", "3"])
            }
            if i == 0 {
                // Metadata big enough that events spill onto overflow pages.
                let value = String(repeating: "v", count: 250)
                for n in 0..<6 {
                    var args = ["record", "--agent", "stress-0", "--cli", "claude", "--duration", "\(n + 1)ms", "--log", log]
                    for k in 0..<12 { args += ["--meta", "k\(k)=\(value)"] }
                    let r = try CLI.run(args)
                    #expect(r.status == 0, "\(r)")
                }
            }
            let check = try CLI.run(["check", "--log", log])
            #expect(check.status == 0, "the corpus log \(name) is not healthy: \(check)")
            out.append(try specimen(name, log: log))
        }
        return out
    }

    static func specimen(_ name: String, log: String) throws -> Specimen {
        let data = try Data(contentsOf: URL(fileURLWithPath: log + "/data.mdb"))
        let pages = try LMDBPages(log + "/data.mdb")
        let all = pages.databases.values.flatMap { $0 }
        return Specimen(
            name: name, data: data, headers: all.map(\.page),
            leaves: all.filter { $0.kind == .leaf }.map(\.page), branches: all.filter { $0.kind == .branch }.map(\.page),
            overflows: all.filter { $0.kind == .overflow }.map(\.page))
    }

    /// SplitMix64: reproducible from the printed seed.
    struct Generator {
        var state: UInt64
        init(seed: UInt64) { state = seed }
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func below(_ n: Int) -> Int { n <= 1 ? 0 : Int(next() % UInt64(n)) }
    }
}
