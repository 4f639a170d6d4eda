import ArgumentParser
import LMDB
import PerfLog
#if canImport(Glibc)
import Glibc
#endif

struct ImportCase: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Lines per second and peak resident memory of `perflog import` of a large NDJSON file.",
        discussion: """
            Writes an NDJSON file in the shape export --format ndjson writes (measures over \
            --streams streams, in time order, metadata on a quarter of them, a few failures), \
            then imports it with the perflog binary as a new process into a fresh log, \
            --repeat times. The peak resident memory is the child's (wait4's ru_maxrss). \
            --baseline runs another perflog binary (a build of an earlier version, say) on \
            the same file in the same run, alternating with this one, and reports the ratios.
            """)

    @Option(help: "Lines in the file.") var lines = 2_000_000
    @Option(help: "Streams.") var streams = 1_000
    @Option(help: "Another perflog binary to run on the same file, for comparison.") var baseline: String?
    @OptionGroup var common: CommonOptions

    func run() throws {
        let perflog = try perflogBinary()
        let dir = makeTemporaryDirectory("import")
        defer { removeTree(dir) }
        let file = dir + "/events.ndjson"
        try writeFile(file)

        var mine = Runs(), theirs = Runs()
        for n in 0..<common.repeat {
            try mine.add(try importOnce(perflog, file: file, log: "\(dir)/log-\(n)"))
            if let baseline { try theirs.add(try importOnce(baseline, file: file, log: "\(dir)/base-\(n)")) }
        }
        var r = Report()
        r.add("case", "import")
        r.add("events", lines)
        r.add("file_bytes", fileSize(file))
        r.add("seconds", median(mine.seconds))
        r.add("events_per_s", Double(lines) / median(mine.seconds))
        r.add("peak_rss_bytes", Int(median(mine.rss)))
        r.add("median_ms", median(mine.seconds) * 1000)
        if baseline != nil {
            r.add("baseline_events_per_s", Double(lines) / median(theirs.seconds))
            r.add("baseline_peak_rss_bytes", Int(median(theirs.rss)))
            r.add("speed_ratio", median(theirs.seconds) / median(mine.seconds))
            r.add("rss_ratio", median(theirs.rss) / median(mine.rss))
        }
        r.add("verified", mine.verified && theirs.verified)
        print(r.line)
    }

    private struct Runs {
        var seconds: [Double] = []
        var rss: [Double] = []
        var verified = true

        mutating func add(_ run: (seconds: Double, rss: Int, verified: Bool)) throws {
            seconds.append(run.seconds)
            rss.append(Double(run.rss))
            verified = verified && run.verified
        }
    }

    /// The stream of line `i`: a fixed pseudo-random order over the streams (Fibonacci
    /// hashing: the top bits of `i` times SplitMix64's golden-ratio increment).
    private func stream(_ i: Int) -> Int { Int((UInt64(i) &* SplitMix64.increment) >> 40) % streams }

    private func writeFile(_ path: String) throws {
        let names = try (0..<streams).map { try StreamName(agent: "agent-\($0 / 10)", cli: "cli-\($0 % 10)") }
        let models: [Metadata] = [["model": "opus"], ["model": "sonnet", "ticket": "PERF-1234"]]
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw BenchError("cannot create \(path)") }
        defer { close(fd) }
        var rng = SplitMix64(seed: 7)
        var out: [UInt8] = []
        out.reserveCapacity(1 << 21)
        let start: Int64 = 1_768_855_824_000_000_000
        for i in 0..<lines {
            var e = Event.measure(
                names[stream(i)], invocation: InvocationID(rawValue: rng.next()), durationNs: 1_000_000 + rng.next() % 60_000_000_000,
                outcome: i % 17 == 0 ? .failed : .ok, exitCode: i % 17 == 0 ? 1 : 0,
                wallTimeNs: start + Int64(i) * 1_000_000 + Int64(rng.next() % 1000) * 1000, pid: Int32(1000 + i % 30_000),
                meta: i % 4 == 0 ? models[i / 4 % 2] : Metadata())
            e.seq = UInt64(i + 1)
            out.append(contentsOf: e.jsonLine.utf8)
            out.append(UInt8(ascii: "\n"))
            if out.count >= 1 << 20 || i == lines - 1 {
                let written = out.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                guard written == out.count else { throw BenchError("cannot write \(path)") }
                out.removeAll(keepingCapacity: true)
            }
        }
    }

    /// One import as a new process: its wall seconds, its peak RSS in bytes, and whether
    /// the log holds the newest `retain` measures of every stream.
    private func importOnce(_ binary: String, file: String, log: String) throws -> (seconds: Double, rss: Int, verified: Bool) {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        let argv = [binary, "import", file, "--log", log]
        var cArgs = argv.map { strdup($0) } + [nil]
        let environment: [String] = ["PATH=/usr/bin:/bin"]
        var cEnv = environment.map { strdup($0) } + [nil]
        defer {
            for p in cArgs { free(p) }
            for p in cEnv { free(p) }
        }
        var pid: pid_t = 0
        let begin = monotonicNs()
        let rc = posix_spawn(&pid, binary, &actions, nil, &cArgs, &cEnv)
        guard rc == 0 else { throw BenchError("cannot run \(binary): \(LMDBError.Code(rawValue: rc))") }
        var status: Int32 = 0
        var usage = rusage()
        _ = POSIXIO.retryingInterrupts { wait4(pid, &status, 0, &usage) }
        let seconds = Double(monotonicNs() - begin) / 1e9
        var verified = status == 0
        if verified {
            let opened = try EventLog(path: log, options: { var o = EventLog.Options(); o.create = false; return o }())
            let retained = try opened.read { try $0.info().events }
            var perStream = [Int](repeating: 0, count: streams)
            for i in 0..<lines { perStream[stream(i)] += 1 }
            verified = retained == perStream.reduce(0) { $0 + min($1, opened.retain) }
        }
        removeTree(log)
        return (seconds, usage.ru_maxrss * 1024, verified)
    }
}
