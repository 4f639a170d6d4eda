import CBaseline
import ArgumentParser
import PerfLog

struct Ingest: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Events per second appended to a new log, rings verified afterwards.")

    @Option(help: "Events to append.") var events = 1_000_000
    @Option(help: "Streams (agent × CLI pairs), chosen at random per event.") var streams = 1_000
    @Option(help: "Ring size.") var retain = 100
    @Option(help: "durable, default or fast.") var durability = "default"
    @Option(help: "Events per commit when appending to the log directly (--direct).") var batch = 4096
    @Flag(help: "Append batches to the log directly instead of recording through a Recorder.") var direct = false
    @Flag(help: "Before each repetition, run c-baseline --durability fast (MDB_NOSYNC) on the same events, streams and retain, and report vs_c_fast (the median of the paired ratios).")
    var vsC = false
    @OptionGroup var common: CommonOptions

    func run() throws {
        guard let mode = EventLog.Durability(rawValue: durability) else {
            throw ValidationError("--durability must be durable, default or fast")
        }
        let events = self.events, batch = self.batch, streams = self.streams, retain = self.retain
        let names = try (0..<streams).map { try StreamName(agent: "agent-\($0 / 10)", cli: "cli-\($0 % 10)") }
        var rng = SplitMix64(seed: 42)
        let picks = (0..<events).map { _ in Int(rng.next() % UInt64(streams)) }
        var rates: [Double] = [], times: [Double] = [], pages: [Double] = [], cRates: [Double] = []
        var verified = true
        for i in 0..<common.repeat {
            // The C loop first, so that a failure of liblmdb is an error of the case, not a gap.
            if vsC {
                cRates.append(try CBaselineCase.once(events: events, streams: streams, retain: retain, perTransaction: 1_000,
                                                     flags: CBaselineCase.flags("fast"), seed: UInt64(i + 1)).rate)
            }
            let dir = makeTemporaryDirectory("ingest")
            defer { removeTree(dir) }
            var options = EventLog.Options()
            options.retain = retain
            options.durability = mode
            let log = try EventLog(path: dir + "/log", options: options)
            let written = bytesWritten()
            defer { pages.append(Double(bytesWritten() - written) / 4096 / Double(events)) }
            if !direct {
                let recorder = Recorder(log: log)
                let start = monotonicNs()
                for j in 0..<events {
                    try recorder.record(names[picks[j]], duration: .nanoseconds(1_000_000 + j % 1000))
                }
                try recorder.close()
                let seconds = Double(monotonicNs() - start) / 1e9
                rates.append(Double(events) / seconds)
                times.append(seconds)
                verified = try verified && verify(log, names: names, picks: picks)
                continue
            }
            let start = monotonicNs()
            var i = 0
            var pending: [Event] = []
            pending.reserveCapacity(batch)
            while i < events {
                pending.removeAll(keepingCapacity: true)
                for j in i..<min(events, i + batch) {
                    pending.append(.measure(names[picks[j]], invocation: InvocationID(rawValue: UInt64(j)),
                                            durationNs: UInt64(1_000_000 + j % 1000), outcome: .ok,
                                            wallTimeNs: Int64(j), pid: 1))
                }
                try log.append(pending)
                i += batch
            }
            let seconds = Double(monotonicNs() - start) / 1e9
            rates.append(Double(events) / seconds)
            times.append(seconds)
            verified = try verified && verify(log, names: names, picks: picks)
        }
        var r = Report()
        r.add("case", "ingest")
        r.add("events", events)
        r.add("streams", streams)
        r.add("retain", retain)
        r.add("durability", durability)
        r.add("via", direct ? "log" : "recorder")
        r.add("seconds", median(times))
        r.add("events_per_s", median(rates))
        r.add("pages_written_per_event", median(pages))
        if vsC {
            r.add("c_fast_events_per_s", median(cRates))
            r.add("vs_c_fast", median(zip(rates, cRates).map { $0 / $1 }))
        }
        r.add("verified", verified)
        print(r.line)
    }

    /// Every stream holds exactly the newest `retain` of what was sent to it.
    func verify(_ log: EventLog, names: [StreamName], picks: [Int]) throws -> Bool {
        var sent = [Int](repeating: 0, count: names.count)
        for p in picks { sent[p] += 1 }
        return try log.read { r in
            for (i, name) in names.enumerated() {
                let s = try r.summary(name)
                if Int(s?.appended ?? 0) != sent[i] || (s?.count ?? 0) != min(sent[i], retain) { return false }
            }
            return true
        }
    }
}

struct CBaselineCase: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "c-baseline",
        abstract: "A plain C program on liblmdb: one get/put/delete per event, fixed events per transaction.",
        discussion: """
            By default each repetition runs both durabilities, interleaved: events_per_s is \
            MDB_NOMETASYNC (perflog's default) and fast_events_per_s is MDB_NOSYNC (the \
            durability of perflog's fast mode). --durability runs one.
            """)

    @Option(help: "Events to append.") var events = 1_000_000
    @Option(help: "Streams.") var streams = 1_000
    @Option(help: "Events kept per stream.") var retain = 100
    @Option(help: "Events per transaction.") var perTransaction = 1_000
    @Option(help: "both, durable, default (MDB_NOMETASYNC) or fast (MDB_NOSYNC).") var durability = "both"
    @OptionGroup var common: CommonOptions

    /// liblmdb's environment flags for a durability.
    static func flags(_ durability: String) throws -> UInt32 {
        switch durability {
        case "durable": return 0
        case "default": return 0x40000  // MDB_NOMETASYNC
        case "fast": return 0x10000  // MDB_NOSYNC
        default: throw ValidationError("--durability must be both, durable, default or fast")
        }
    }

    /// One run of the C loop; returns events per second and pages written per event.
    static func once(events: Int, streams: Int, retain: Int, perTransaction: Int, flags: UInt32, seed: UInt64) throws -> (rate: Double, seconds: Double, pages: Double) {
        let dir = makeTemporaryDirectory("c-baseline")
        defer { removeTree(dir) }
        var seconds = 0.0
        let written = bytesWritten()
        let rc = perflog_c_baseline(dir, UInt64(events), UInt32(streams), UInt32(retain), UInt32(perTransaction),
                                    flags, seed, &seconds)
        guard rc == 0 else { throw ValidationError("liblmdb failed with code \(rc)") }
        return (Double(events) / seconds, seconds, Double(bytesWritten() - written) / 4096 / Double(events))
    }

    func run() throws {
        let modes = durability == "both" ? ["default", "fast"] : [durability]
        let flags = try modes.map(Self.flags)
        var rates = [[Double]](repeating: [], count: modes.count), times = rates, pages = rates
        for i in 0..<common.repeat {
            for (m, f) in flags.enumerated() {
                let run = try Self.once(events: events, streams: streams, retain: retain, perTransaction: perTransaction,
                                        flags: f, seed: UInt64(i + 1))
                rates[m].append(run.rate)
                times[m].append(run.seconds)
                pages[m].append(run.pages)
            }
        }
        var r = Report()
        r.add("case", "c-baseline")
        r.add("events", events)
        r.add("streams", streams)
        r.add("retain", retain)
        r.add("durability", modes[0])
        r.add("seconds", median(times[0]))
        r.add("events_per_s", median(rates[0]))
        r.add("pages_written_per_event", median(pages[0]))
        if modes.count == 2 {
            r.add("fast_events_per_s", median(rates[1]))
            r.add("fast_pages_written_per_event", median(pages[1]))
        }
        r.add("verified", true)
        print(r.line)
    }
}
