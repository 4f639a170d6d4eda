import ArgumentParser
import LMDB
import PerfLog
#if canImport(Glibc)
import Glibc
#endif

/// `compact-under-load`: compacts a large log while 4 processes record and one reads,
/// and reports the latency of every operation that overlapped the compaction.
struct CompactUnderLoad: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compact-under-load",
        abstract: "Operation latencies of 4 recording processes and a reader while `perflog compact` runs on a large log.",
        discussion: """
            Builds a log of --size-mb (large metadata, fast durability; or reuses --log), \
            then per repetition starts 4 writer processes (one commit per measure, default \
            durability, each timing every commit) and a reader process (stats and tail \
            reads, each timed), runs `perflog compact --json` and reports, for the \
            operations that overlapped the compaction, p50, p99, p99.9 and max latency of \
            writers and of the reader, how many writer commits took over 10, 50 and 100 ms, \
            the longest stall, the exclusive hold the compaction reports, and whether every \
            acknowledged commit is in the log afterwards; then, as the baseline, the same \
            figures for the same load just as long again without a compaction (baseline…). \
            Medians over --repeat. \
            Each process runs flat out unless --rate paces it: N operations a second on a \
            fixed schedule, as recording agents do; a late operation's latency then counts \
            from when it was due, so that a stall is not hidden by the operations it delayed.
            """)

    @Option(help: "Size of the log to build, in MiB.") var sizeMb = 1024
    @Option(help: "A log to use (built there when missing or smaller than --size-mb).") var log: String?
    @Option(help: "Seconds the load runs before the compaction starts.") var warmup = 1.0
    @Option(help: "Operations a second of each writer and of the reader, on a fixed schedule (0: flat out).") var rate = 0.0
    @OptionGroup var common: CommonOptions

    func validate() throws {
        guard rate == 0 || (rate >= 0.01 && rate <= 1e9) else {
            throw ValidationError("--rate must be 0 (flat out) or from 0.01 to 1e9 operations a second")
        }
        guard warmup >= 0, warmup <= 3600 else { throw ValidationError("--warmup must be from 0 to 3600 seconds") }
    }

    func run() throws {
        let perflog = try perflogBinary()
        let me = String(perflog.dropLast("perflog".count)) + "perflog-bench"
        let scratch = makeTemporaryDirectory("compact-load")
        defer { removeTree(scratch) }
        let path = log ?? scratch + "/log"
        let buildStart = monotonicNs()
        try build(path, bytes: sizeMb << 20)
        let buildSeconds = Double(monotonicNs() - buildStart) / 1e9
        var rounds: [Round] = []
        for round in 0..<common.repeat {
            rounds.append(try runRound(round, path: path, perflog: perflog, bench: me, scratch: scratch))
            if !common.json { print(rounds.last!.line) }
        }
        var report = Report()
        report.add("case", "compact-under-load")
        report.add("logMiB", fileSize(path + "/data.mdb") >> 20)
        report.add("buildSeconds", buildSeconds)
        report.add("repeat", common.repeat)
        report.add("ratePerProcess", rate)
        for key in Round.keys { report.add(key, median(rounds.map { $0.values[key] ?? .nan })) }
        report.add("lost", rounds.reduce(0) { $0 + $1.lost })
        report.add("failedOperations", rounds.reduce(0) { $0 + $1.failed })
        report.add("verified", rounds.allSatisfy { $0.lost == 0 && $0.compactStatus == 0 })
        print(report.line)
    }

    /// Appends measures with ~900 bytes of metadata over 8 streams until data.mdb
    /// reaches `bytes`.
    func build(_ path: String, bytes: Int) throws {
        if fileSize(path + "/data.mdb") >= bytes { return }
        var options = EventLog.Options()
        options.retain = EventLog.maxRetain
        options.durability = .fast
        options.mapSize = bytes * 2
        let log = try EventLog(path: path, options: options)
        let streams = try (0..<8).map { try StreamName(agent: "bulk\($0)", cli: "claude") }
        let meta = try Metadata.validated((0..<9).map { ("note\($0)", String(repeating: "x", count: 96)) })
        var n = 0
        while fileSize(path + "/data.mdb") < bytes {
            let batch = (0..<2_000).map { i in
                Event.measure(streams[(n + i) % streams.count], invocation: .random(), durationNs: UInt64(1_000_000 + (n + i) % 5_000_000),
                              outcome: .ok, exitCode: 0, wallTimeNs: EventClock.wallNs(), pid: 1, meta: meta)
            }
            try log.append(batch)
            n += batch.count
        }
        try log.sync()
    }

    struct Round {
        static let keys = ["compactSeconds", "exclusiveHoldMs", "writerP50Ms", "writerP99Ms", "writerP999Ms", "writerMaxMs",
                           "readerP50Ms", "readerP99Ms", "readerMaxMs", "longestStallMs", "writerOps", "readerOps",
                           "writerOver10Ms", "writerOver50Ms", "writerOver100Ms",
                           "baselineWriterP50Ms", "baselineWriterP99Ms", "baselineWriterP999Ms", "baselineWriterMaxMs",
                           "baselineReaderMaxMs", "baselineWriterOver100Ms", "baselineWriterOps", "writerMaxAtS", "readerMaxAtS", "repairAtS", "catchUpAtS", "swapAtS"]
        var values: [String: Double] = [:]
        var lost = 0
        var failed = 0
        var compactStatus: Int32 = 0
        var line: String {
            var r = Report()
            for key in Round.keys { r.add(key, values[key] ?? .nan) }
            r.add("lost", lost)
            r.add("failedOperations", failed)
            r.add("compactStatus", Int(compactStatus))
            return r.line
        }
    }

    func runRound(_ round: Int, path: String, perflog: String, bench: String, scratch: String) throws -> Round {
        let stop = scratch + "/stop\(round)"
        var workers: [(pid: pid_t, out: String, stream: String?)] = []
        for i in 0..<4 {
            let out = scratch + "/writer\(round)-\(i)"
            let stream = "load\(round)-\(i)"
            workers.append((try spawn([bench, "compact-load-worker", "--role", "writer", "--log", path, "--stream", stream, "--stop", stop, "--rate", "\(rate)"], stdout: out), out, stream))
        }
        let readerOut = scratch + "/reader\(round)"
        workers.append((try spawn([bench, "compact-load-worker", "--role", "reader", "--log", path, "--stop", stop, "--rate", "\(rate)"], stdout: readerOut), readerOut, nil))
        sleepNs(UInt64(warmup * 1e9))
        let compactOut = scratch + "/compact\(round)"
        let start = monotonicNs()
        let compactSteps = scratch + "/compact-steps\(round)"
        let compactPid = try spawn([perflog, "compact", "--json", "--verbose", "--log", path], stdout: compactOut, stderr: compactSteps)
        var status: Int32 = 0
        _ = POSIXIO.retryingInterrupts { waitpid(compactPid, &status, 0) }
        let end = monotonicNs()
        // The baseline: the same load for as long again, without a compaction.
        sleepNs(300_000_000)
        let baselineStart = monotonicNs()
        let length = end - start
        sleepNs(length)
        let baselineEnd = monotonicNs()
        _ = creat(stop, 0o644)
        for w in workers { var s: Int32 = 0; _ = POSIXIO.retryingInterrupts { waitpid(w.pid, &s, 0) } }

        var result = Round()
        result.compactStatus = (status >> 8) & 0xff
        var writerLatencies: [Double] = [], readerLatencies: [Double] = []
        var baselineWriter: [Double] = [], baselineReader: [Double] = []
        // When the longest of each began, in seconds from the compaction's start.
        var writerWorst = (ms: 0.0, at: 0.0), readerWorst = (ms: 0.0, at: 0.0)
        var acked: [String: Int] = [:]
        for w in workers {
            let text = try readText(w.out)
            for line in text.split(separator: "\n") {
                let f = line.split(separator: " ")
                if f.first == "failed" { result.failed += Int(f.dropFirst().first ?? "0") ?? 0; continue }
                if f.first == "acked", let stream = w.stream { acked[stream] = Int(f[1]) ?? 0; continue }
                guard f.count == 2, let s = UInt64(f[0]), let e = UInt64(f[1]) else { continue }
                let ms = Double(e - s) / 1e6
                if e >= start && s <= end {
                    let at = (Double(s) - Double(start)) / 1e9
                    if w.stream != nil {
                        writerLatencies.append(ms)
                        if ms > writerWorst.ms { writerWorst = (ms, at) }
                    } else {
                        readerLatencies.append(ms)
                        if ms > readerWorst.ms { readerWorst = (ms, at) }
                    }
                } else if s >= baselineStart && e <= baselineEnd {
                    if w.stream != nil { baselineWriter.append(ms) } else { baselineReader.append(ms) }
                }
            }
        }
        let reopened = try EventLog(path: path, options: { var o = EventLog.Options(); o.create = false; return o }())
        for (stream, count) in acked {
            let stored = try reopened.read { try $0.summary(try StreamName(agent: stream, cli: "bench"))?.count } ?? 0
            result.lost += max(0, count - stored)
        }
        func q(_ xs: [Double], _ p: Double) -> Double {
            let s = xs.sorted()
            guard !s.isEmpty else { return .nan }
            return s[min(s.count - 1, max(0, Int((p * Double(s.count)).rounded(.up)) - 1))]
        }
        let compactJSON = try readText(compactOut)
        result.values["compactSeconds"] = Double(end - start) / 1e9
        result.values["exclusiveHoldMs"] = jsonNumber(compactJSON, "exclusiveHoldNs").map { $0 / 1e6 } ?? .nan
        result.values["writerP50Ms"] = q(writerLatencies, 0.5)
        result.values["writerP99Ms"] = q(writerLatencies, 0.99)
        result.values["writerP999Ms"] = q(writerLatencies, 0.999)
        result.values["writerMaxMs"] = writerLatencies.max() ?? .nan
        for limit in [10, 50, 100] {
            result.values["writerOver\(limit)Ms"] = Double(writerLatencies.filter { $0 > Double(limit) }.count)
        }
        result.values["baselineWriterP50Ms"] = q(baselineWriter, 0.5)
        result.values["baselineWriterP99Ms"] = q(baselineWriter, 0.99)
        result.values["baselineWriterP999Ms"] = q(baselineWriter, 0.999)
        result.values["baselineWriterMaxMs"] = baselineWriter.max() ?? .nan
        result.values["baselineReaderMaxMs"] = baselineReader.max() ?? .nan
        result.values["baselineWriterOver100Ms"] = Double(baselineWriter.filter { $0 > 100 }.count)
        result.values["baselineWriterOps"] = Double(baselineWriter.count)
        // When each step began, from the compaction's own lines ("… (12.34 s in)").
        for line in try readText(compactSteps).split(separator: "\n") {
            guard let open = line.lastIndex(of: "("), let seconds = Double(line[line.index(after: open)...].prefix(while: { $0 != " " })) else { continue }
            for (step, key) in [("repairing", "repairAtS"), ("swapped", "swapAtS")] where line.contains("compact: \(step)") {
                result.values[key] = seconds
            }
            if line.contains("compact: catching-up"), result.values["catchUpAtS"] == nil { result.values["catchUpAtS"] = seconds }
        }
        result.values["writerMaxAtS"] = writerWorst.at
        result.values["readerMaxAtS"] = readerWorst.at
        result.values["readerP50Ms"] = q(readerLatencies, 0.5)
        result.values["readerP99Ms"] = q(readerLatencies, 0.99)
        result.values["readerMaxMs"] = readerLatencies.max() ?? .nan
        result.values["longestStallMs"] = max(writerLatencies.max() ?? 0, readerLatencies.max() ?? 0)
        result.values["writerOps"] = Double(writerLatencies.count)
        result.values["readerOps"] = Double(readerLatencies.count)
        return result
    }

    /// The number at `key` of the JSON object `text` (`compact --json`'s line).
    func jsonNumber(_ text: String, _ key: String) -> Double? {
        Array(text.utf8).withUnsafeBufferPointer { b -> Double? in
            var parser = JSONParser(b, from: 0, to: b.count)
            guard case .object(let members)? = try? parser.document(),
                  case .number(let n)? = members.first(where: { $0.key == key })?.value
            else { return nil }
            return Double(n.text)
        }
    }
}

/// One process of `compact-under-load`'s load: a writer commits one measure at a time,
/// a reader alternates `stats`-like and `tail`-like reads; each prints `start end`
/// (monotonic ns) per operation, then `acked N` / `failed N`, when the stop file appears.
/// With a `--rate`, operations are due on a fixed schedule and `start` is when one was
/// due: a stall shows in every operation it held up.
struct CompactLoadWorker: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "compact-load-worker", shouldDisplay: false)

    @Option var role: String
    @Option var log: String
    @Option var stream: String = ""
    @Option var stop: String
    @Option var rate: Double = 0

    func run() throws {
        let eventLog = try EventLog(path: log, options: { var o = EventLog.Options(); o.create = false; return o }())
        var times: [(UInt64, UInt64)] = []
        times.reserveCapacity(1 << 20)
        var acked = 0, failed = 0
        let name = role == "writer" ? try StreamName(agent: stream, cli: "bench") : nil
        var n = 0
        let interval = rate > 0 ? UInt64(1e9 / rate) : 0
        let first = monotonicNs()
        while access(stop, F_OK) != 0 {
            var s = monotonicNs()
            if interval > 0 {
                let due = first + UInt64(n) * interval
                if due > s { sleepNs(due - s) }
                s = due
            }
            do {
                if let name {
                    try eventLog.append([.measure(name, invocation: .random(), durationNs: 1_000_000, outcome: .ok, wallTimeNs: EventClock.wallNs(), pid: getpid())])
                    acked += 1
                } else if n % 2 == 0 {
                    _ = try eventLog.read { try $0.streams() }
                } else {
                    _ = try eventLog.read { try $0.tail(20) }
                }
            } catch {
                failed += 1
            }
            times.append((s, monotonicNs()))
            n += 1
        }
        var out = ""
        out.reserveCapacity(times.count * 24)
        for (s, e) in times { out += "\(s) \(e)\n" }
        out += "acked \(acked)\nfailed \(failed)\n"
        print(out, terminator: "")
    }
}

/// Starts `argv` with standard output to `stdout` (a new file) and returns its pid.
func spawn(_ argv: [String], stdout: String, stderr: String? = nil) throws -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    if let stderr { posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_TRUNC, 0o644) }
    var cArgs = argv.map { strdup($0) } + [nil]
    defer { for p in cArgs { free(p) } }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, argv[0], &actions, nil, &cArgs, environ)
    guard rc == 0 else { throw BenchError("cannot run \(argv[0]): \(LMDBError.Code(rawValue: rc))") }
    return pid
}

func readText(_ path: String) throws -> String {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { throw BenchError("cannot read \(path)") }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n <= 0 { break }
        bytes += buffer[..<n]
    }
    return String(decoding: bytes, as: UTF8.self)
}
