// Comparisons of groups other than one agent's CLIs: an agent's measures grouped by a
// metadata value (which model ran faster, whatever the CLI), and the agents of one CLI.
// Both rank with the same code as the CLI comparison (``Projector/compare(agent:groups:)``),
// so that relative speeds, uncertainties and p-values mean the same everywhere.

extension Projector {
    /// The label of the group of measures that do not carry the metadata key `key`:
    /// `(no KEY)`, e.g. `(no model)`. A measure whose value is literally this text falls
    /// into the same group.
    public static func missingMetadataLabel(_ key: String) -> String { "(no \(key))" }

    /// Compares `agent`'s measures grouped by the value of the metadata key `key`, across
    /// all of the agent's CLIs: one entry per value, whose ``Comparison/Entry/cli`` holds
    /// that value (``missingMetadataLabel(_:)`` for measures without the key), ranked as
    /// the CLIs of an agent are (fastest mean of the successful measures first).
    ///
    /// The measures are those of each stream's retained window whose wall-clock end time
    /// is in `timeRange`.
    /// - Returns: the comparison (its ``Comparison/agent`` is `agent`), or `nil` when the
    ///   log holds no measure or open mark of the agent in `timeRange`.
    /// - Throws: ``PerfLogError`` when the log cannot be read or is damaged.
    public static func compare(
        _ reader: LogReader, agent: String, byMeta key: String, timeRange: TimeRange = TimeRange()
    ) throws(PerfLogError) -> Comparison? {
        let filter = StreamFilter(agent: agent)
        let streams = try reader.streams(filter)
        guard !streams.isEmpty else { return nil }
        let missing = missingMetadataLabel(key)
        var ok: [String: [UInt64]] = [:]
        var anything = false
        for s in streams {
            for e in try reader.ring(s.stream) where e.kind == .measure && timeRange.contains(e.wallTimeNs) {
                anything = true
                let label = e.meta[key] ?? missing
                // A group with failures only is listed, without a mean.
                ok[label, default: []] += e.outcome == .ok ? [e.durationNs] : []
            }
        }
        if !anything {
            let marks = try reader.openMarks(filter)
            guard marks.contains(where: { timeRange.contains($0.wallTimeNs) }) else { return nil }
        }
        return compare(agent: agent, groups: ok.map { (label: $0.key, durations: DurationStatistics(nanoseconds: $0.value)) })
    }

    /// Compares the agents that ran on `cli`: one entry per agent, ranked as the CLIs of
    /// an agent are, over each stream's window (its measures in `timeRange`). In the
    /// result ``Comparison/agent`` holds `cli`, ``Comparison/fastestCli`` the fastest
    /// agent and each entry's ``Comparison/Entry/cli`` an agent; ``Comparison/Subject/agents``
    /// names them so in JSON.
    /// - Parameter now: as in ``project(_:filter:now:options:)``.
    /// - Returns: `nil` when the log holds nothing of `cli` in `timeRange`.
    /// - Throws: ``PerfLogError`` when the log cannot be read or is damaged.
    public static func compare(
        _ reader: LogReader, agentsOn cli: String, now: Int64, timeRange: TimeRange = TimeRange()
    ) throws(PerfLogError) -> Comparison? {
        var options = Options()
        options.measurements = false
        options.timeRange = timeRange
        let streams = try project(reader, filter: StreamFilter(cli: cli), now: now, options: options).streams
        guard !streams.isEmpty else { return nil }
        return compare(agent: cli, groups: streams.map { (label: $0.stream.agent, durations: $0.durations) })
    }
}
