import ArgumentParser
import LMDB
import PerfLog
#if canImport(Glibc)
import Glibc
#endif

struct RecordLatency: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "record-latency",
        abstract: "Nanoseconds one Recorder.record call takes while the writer commits (p50, p99, max).")

    @Option(help: "Calls to time.") var events = 1_000_000
    @Option(help: "Streams, chosen at random per call.") var streams = 1_000
    @Option(help: "Calls per second (paced, so that the buffer does not fill).") var rate = 250_000
    @OptionGroup var common: CommonOptions

    func run() throws {
        let events = self.events, streams = self.streams
        let names = try (0..<streams).map { try StreamName(agent: "agent-\($0 / 10)", cli: "cli-\($0 % 10)") }
        let intervalNs = UInt64(1_000_000_000 / max(1, rate))
        var p50s: [Double] = [], p99s: [Double] = [], maxes: [Double] = []
        var verified = true
        for _ in 0..<common.repeat {
            let dir = makeTemporaryDirectory("latency")
            defer { removeTree(dir) }
            let log = try EventLog(path: dir + "/log")
            let recorder = Recorder(log: log)
            var rng = SplitMix64(seed: 7)
            var samples = [UInt64](repeating: 0, count: events)
            var next = monotonicNs()
            for i in 0..<events {
                while monotonicNs() < next {}
                next += intervalNs
                let stream = names[Int(rng.next() % UInt64(streams))]
                let t0 = monotonicNs()
                try recorder.record(stream, duration: .nanoseconds(1_000_000 + i % 1000))
                samples[i] = monotonicNs() - t0
            }
            try recorder.close()
            let c = recorder.counters
            verified = verified && c.committed == UInt64(events) && c.dropped == 0 && c.lost == 0
            samples.sort()
            p50s.append(Double(samples[events / 2]))
            p99s.append(Double(samples[min(events - 1, events * 99 / 100)]))
            maxes.append(Double(samples[events - 1]))
        }
        var r = Report()
        r.add("case", "record-latency")
        r.add("events", events)
        r.add("rate", rate)
        r.add("p50_ns", median(p50s))
        r.add("p99_ns", median(p99s))
        r.add("max_ns", median(maxes))
        r.add("verified", verified)
        print(r.line)
    }
}

struct PeakRSS: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rss",
        abstract: "Peak resident memory of a process that records many events through a Recorder.")

    @Option(help: "Events to record.") var events = 10_000_000
    @Option(help: "Streams.") var streams = 1_000
    @OptionGroup var common: CommonOptions

    func run() throws {
        // One run per process: the peak of a process never comes down.
        let events = self.events, streams = self.streams
        let names = try (0..<streams).map { try StreamName(agent: "agent-\($0 / 10)", cli: "cli-\($0 % 10)") }
        let dir = makeTemporaryDirectory("rss")
        defer { removeTree(dir) }
        let log = try EventLog(path: dir + "/log")
        let recorder = Recorder(log: log)
        var rng = SplitMix64(seed: 11)
        let start = monotonicNs()
        for i in 0..<events {
            try recorder.record(names[Int(rng.next() % UInt64(streams))], duration: .nanoseconds(1_000_000 + i % 1000))
        }
        try recorder.close()
        let seconds = Double(monotonicNs() - start) / 1e9
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let verified = try log.read { r in try r.info().events } == min(events, streams * 100)
        // How much of the file is free space after all that churn: compare it with a
        // compacted copy (what `mdb_copy -c` writes).
        let fileBytes = fileSize(dir + "/log/data.mdb")
        try makeDirectory(dir + "/compacted")
        try log.environment.copy(to: dir + "/compacted", compact: true)
        let compactedBytes = fileSize(dir + "/compacted/data.mdb")
        var r = Report()
        r.add("case", "rss")
        r.add("events", events)
        r.add("seconds", seconds)
        r.add("events_per_s", Double(events) / seconds)
        r.add("peak_rss_bytes", usage.ru_maxrss * 1024)
        r.add("file_bytes", fileBytes)
        r.add("compacted_bytes", compactedBytes)
        r.add("file_to_compacted", Double(fileBytes) / Double(max(1, compactedBytes)))
        r.add("verified", verified)
        print(r.line)
    }
}
