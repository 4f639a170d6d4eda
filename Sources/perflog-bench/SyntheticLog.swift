import PerfLog

/// The log the reading cases measure: `streams` streams (10 CLIs per agent) of
/// `perStream` measures each, appended round-robin, as concurrent agents interleave, in
/// commits of 100,000 events; durations of 0.2 to 2.7 s, one measure in 50 failed.
enum SyntheticLog {
    /// Creates it at `path`; returns the log and how many measures were appended.
    static func make(at path: String, streams: Int, perStream: Int, retain: Int) throws -> (EventLog, Int) {
        var options = EventLog.Options()
        options.retain = retain
        options.durability = .fast
        let log = try EventLog(path: path, options: options)
        let names = try (0..<streams).map { try StreamName(agent: "agent-\($0 / 10)", cli: "cli-\($0 % 10)") }
        var rng = SplitMix64(seed: 7)
        let start: Int64 = 1_768_855_824_000_000_000
        var batch: [Event] = []
        batch.reserveCapacity(100_000)
        var appended = 0
        for _ in 0..<perStream {
            for (i, name) in names.enumerated() {
                let failed = rng.next() % 50 == 0
                let duration = 200_000_000 + rng.next() % 2_000_000_000 + UInt64(i % 10) * 50_000_000
                batch.append(.measure(name, invocation: InvocationID(rawValue: UInt64(appended)), durationNs: duration,
                                      outcome: failed ? .failed : .ok, exitCode: failed ? 1 : 0,
                                      wallTimeNs: start + Int64(appended) * 1_000_000, pid: 1))
                appended += 1
                if batch.count == 100_000 {
                    try log.append(batch)
                    batch.removeAll(keepingCapacity: true)
                }
            }
        }
        if !batch.isEmpty { try log.append(batch) }
        try log.sync()
        return (log, appended)
    }
}
