/// Formats that summarise a projection (per-stream figures and comparisons) rather than
/// list raw events.
public enum SummaryFormat: String, Sendable, Hashable, CaseIterable {
    /// `agent-performance.json` (schema 1); its `measurements` follow the projector's
    /// options.
    case json
    /// A Markdown report: a table of streams, then one table per agent comparing CLIs.
    case markdown
    /// The Prometheus exposition in OpenMetrics text (lifetime counters and histograms,
    /// the window's figures as gauges), readable by node_exporter's textfile collector.
    case openmetrics
    /// The same exposition in Prometheus's classic text format (0.0.4): no `# UNIT`,
    /// `_created` or `# EOF`.
    case prometheus
}

extension Projection {
    /// The projection in `format`; `labels` are added to every series of the
    /// OpenMetrics text.
    public func rendered(_ format: SummaryFormat, labels: MetricLabels = MetricLabels()) -> String {
        switch format {
        case .json: return json
        case .markdown: return markdown
        case .openmetrics: return openMetrics(labels: labels)
        case .prometheus: return MetricsExposition(bounds: bucketBounds, labels: labels).text(streams, format: .classic)
        }
    }

    /// A Markdown report: durations in milliseconds over each stream's retained
    /// window (successful measures only) with each stream's speed relative to its
    /// agent's fastest CLI (`1.16×`: its mean is 1.16 times the fastest's; `–` without a
    /// mean), then each agent's CLIs fastest first.
    public var markdown: String {
        var out = "# Agent performance\n\n"
        out += "Generated from the log as of \(Timestamp.iso8601(unixNanoseconds: generatedAtNs, precision: .milliseconds)); "
        out += "each stream keeps its newest \(retain) measures. Durations in ms, successful runs only; "
        out += "relative: the mean over the fastest CLI's of the same agent.\n\n"
        out += "| agent | cli | count | failures | in flight | mean (ms) | p50 (ms) | p90 (ms) | p95 (ms) | p99 (ms) | max (ms) "
        out += "| stddev (ms) | relative |\n"
        out += "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n"
        var relatives: [StreamName: Double] = [:]
        for c in comparisons {
            for e in c.byCli {
                if let r = e.relative, let stream = try? StreamName(agent: c.agent, cli: e.cli) { relatives[stream] = r }
            }
        }
        for s in streams {
            let d = s.durations
            let cells = [Markdown.cell(s.stream.agent), Markdown.cell(s.stream.cli), "\(s.count)", "\(s.failures)", "\(s.inFlight)",
                         Markdown.ms(d?.meanNs), Markdown.ms(d?.p50Ns), Markdown.ms(d?.p90Ns), Markdown.ms(d?.p95Ns),
                         Markdown.ms(d?.p99Ns), Markdown.ms(d?.maxNs), Markdown.ms(d?.stddevNs),
                         Markdown.relative(relatives[s.stream], digits: 2)]
            out += "| " + cells.joined(separator: " | ") + " |\n"
        }
        for c in comparisons where c.byCli.count > 1 {
            out += "\n## \(Markdown.cell(c.agent))\n\n"
            out += "| cli | mean (ms) | relative | ± | p (vs fastest) |\n|---|--:|--:|--:|--:|\n"
            for e in c.byCli {
                let plusMinus = e.relativeUncertainty.map { Markdown.fixed($0, 3) } ?? "–"
                let p = e.pValue.map { Markdown.fixed($0, 4) } ?? "–"
                out += "| \(Markdown.cell(e.cli)) | \(Markdown.ms(e.meanNs)) | \(Markdown.relative(e.relative, digits: 3)) | \(plusMinus) | \(p) |\n"
            }
        }
        return out
    }

    /// The Prometheus exposition of the projection's streams in OpenMetrics text (see
    /// ``MetricsExposition``), with the constant `labels`.
    public func openMetrics(labels: MetricLabels = MetricLabels()) -> String {
        MetricsExposition(bounds: bucketBounds, labels: labels).text(streams)
    }
}
