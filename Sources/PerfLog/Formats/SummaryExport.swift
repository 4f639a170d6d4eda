/// Formats that summarise a projection (per-stream figures and comparisons) rather than
/// list raw events.
public enum SummaryFormat: String, Sendable, Hashable, CaseIterable {
    /// `agent-performance.json` (schema 1); its `measurements` follow the projector's
    /// options.
    case json
    /// A Markdown report: a table of streams, then one table per agent comparing CLIs.
    case markdown
    /// A Prometheus text exposition in the OpenMetrics style (`# TYPE`, `# UNIT`,
    /// `# HELP`, ending in `# EOF`), readable by node_exporter's textfile collector.
    case openmetrics
}

extension Projection {
    /// The projection in `format`.
    public func rendered(_ format: SummaryFormat) -> String {
        switch format {
        case .json: return json
        case .markdown: return markdown
        case .openmetrics: return openMetrics
        }
    }

    /// A Markdown report: durations in milliseconds over each stream's retained
    /// window (successful measures only), then each agent's CLIs fastest first.
    public var markdown: String {
        var out = "# Agent performance\n\n"
        out += "Generated from the log as of \(Timestamp.iso8601(unixNanoseconds: generatedAtNs, precision: .milliseconds)); "
        out += "each stream keeps its newest \(retain) measures. Durations in ms, successful runs only.\n\n"
        out += "| agent | cli | count | failures | in flight | mean | p50 | p90 | p99 | max | stddev |\n"
        out += "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n"
        for s in streams {
            let d = s.durations
            let cells = [Markdown.cell(s.stream.agent), Markdown.cell(s.stream.cli), "\(s.count)", "\(s.failures)", "\(s.inFlight)",
                         Markdown.ms(d?.meanNs), Markdown.ms(d?.p50Ns), Markdown.ms(d?.p90Ns), Markdown.ms(d?.p99Ns),
                         Markdown.ms(d?.maxNs), Markdown.ms(d?.stddevNs)]
            out += "| " + cells.joined(separator: " | ") + " |\n"
        }
        for c in comparisons where c.byCli.count > 1 {
            out += "\n## \(Markdown.cell(c.agent))\n\n"
            out += "| cli | mean | relative | ± | p (vs fastest) |\n|---|--:|--:|--:|--:|\n"
            for e in c.byCli {
                let relative = e.relative.map { Markdown.fixed($0, 3) + "×" } ?? "–"
                let plusMinus = e.relativeUncertainty.map { Markdown.fixed($0, 3) } ?? "–"
                let p = e.pValue.map { Markdown.fixed($0, 4) } ?? "–"
                out += "| \(Markdown.cell(e.cli)) | \(Markdown.ms(e.meanNs)) | \(relative) | \(plusMinus) | \(p) |\n"
            }
        }
        return out
    }

    /// The Prometheus text exposition: a `summary` of successful durations in seconds
    /// (quantiles 0.5, 0.9, 0.95, 0.99, `_sum`, `_count`) and gauges of the window's
    /// measures, failures, in-flight and abandoned marks, labelled by agent and CLI.
    public var openMetrics: String {
        var out = ""
        let duration = "perflog_invocation_duration_seconds"
        out += "# TYPE \(duration) summary\n# UNIT \(duration) seconds\n"
        out += "# HELP \(duration) Durations of successful invocations over each stream's retained window.\n"
        for s in streams {
            guard let d = s.durations else { continue }
            let labels = OpenMetrics.labels(s.stream)
            for (q, v) in [("0.5", d.p50Ns), ("0.9", d.p90Ns), ("0.95", d.p95Ns), ("0.99", d.p99Ns)] {
                out += "\(duration){\(labels),quantile=\"\(q)\"} \(OpenMetrics.seconds(v))\n"
            }
            out += "\(duration)_sum{\(labels)} \(OpenMetrics.seconds(d.meanNs * Double(d.count)))\n"
            out += "\(duration)_count{\(labels)} \(d.count)\n"
        }
        let gauges: [(String, String, (StreamStatistics) -> Int)] = [
            ("perflog_window_measures", "Measures in the stream's retained window.", { $0.count }),
            ("perflog_window_failures", "Failed measures in the stream's retained window.", { $0.failures }),
            ("perflog_in_flight", "Invocations started and not yet ended.", { $0.inFlight }),
            ("perflog_abandoned", "Invocations in flight for longer than the abandonment timeout.", { $0.abandoned }),
        ]
        for (name, help, value) in gauges {
            out += "# TYPE \(name) gauge\n# HELP \(name) \(help)\n"
            for s in streams { out += "\(name){\(OpenMetrics.labels(s.stream))} \(value(s))\n" }
        }
        out += "# EOF\n"
        return out
    }
}
