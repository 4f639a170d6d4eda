import ArgumentParser
import PerfLog

extension Perflog {
    /// `perflog export`: the log's events or its summary in another format.
    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the log's events (ndjson, csv, seed) or its summary (json, markdown, openmetrics, prometheus).",
            discussion: """
                Raw events, every retained measure and open mark in commit order:
                  ndjson       one JSON object a line, as tail --json prints them; perflog
                               import reads it back (into another log, too)
                  csv          RFC 4180: a header line, then one record per event; CR LF
                               line ends; fields holding a comma, quote or line break are
                               quoted, quotes doubled; a name a spreadsheet would run as
                               a formula (beginning with = + - @, tab or CR) gets a '
                               in front (OWASP's advice); numbers are never changed;
                               columns seq, time, kind, agent, cli, invocation,
                               durationMs, outcome, exitCode, pid, meta, signal (the
                               signal that ended a failed measure; empty when none did)
                  seed         the old tracker's flat array of measures:
                               [{agent, cli, duration (ms), timestamp, success}]

                Summaries, over each stream's retained window:
                  json         agent-performance.json (what perflog project writes)
                  markdown     a report: a table of streams (milliseconds; the speed
                               relative to the agent's fastest CLI), then each agent's
                               CLIs ranked
                Metrics, as perflog serve's GET /metrics gives them:
                  openmetrics  OpenMetrics text: per agent and cli, lifetime counters
                               perflog_invocations_total{outcome="ok"|"failed"} and the
                               histogram perflog_invocation_duration_seconds (_bucket,
                               _sum, _count, _created; the log's buckets), and the
                               window's figures as gauges: perflog_window_duration_seconds
                               {stat="p50|p90|p95|p99|mean|max"}, perflog_window_measures,
                               perflog_window_failures, perflog_in_flight,
                               perflog_abandoned, perflog_last_measure_timestamp_seconds
                  prometheus   the same in Prometheus's classic text format (0.0.4)

                --label NAME=VALUE (repeatable) adds a constant label to every series of \
                openmetrics and prometheus, so that the exports of several logs on one \
                host never collide (NAME: a Prometheus label name other than agent, cli, \
                outcome, le, stat and quantile).

                --since and --until keep only what happened in the range, in every \
                format: the raw formats write the events whose time (a measure's end, a \
                mark's start) is in it; the summaries count only those measures and \
                marks within each window and leave out streams with nothing in it.

                --agent and --cli keep only those streams, in every format. Without \
                --out the text goes to standard output. With --out it goes to a \
                temporary file beside FILE that is renamed over FILE once complete, so a \
                reader never sees half a file: the file node_exporter's textfile \
                collector wants (it reads *.prom files in its directory on each scrape). \
                A new FILE is private (0600; 0660 less the umask in a setgid directory); \
                a replaced one keeps its mode and group. A symbolic link is written \
                through (its target replaced, the link kept); a device or FIFO is \
                written directly; a directory is refused.

                The log is opened read-only; a missing log exits 66. A FILE that cannot be \
                created, or a directory, exits 73, a failed write 74 (standard output \
                too); FILE is then left as it was.

                Examples:
                  perflog export --format ndjson --out events.ndjson
                  perflog export --format csv --agent planner > planner.csv
                  perflog export --format ndjson --since 2026-12-01 --until 2026-12-08
                  perflog export --format markdown --out docs/agent-performance.md
                  perflog export --format prometheus --label log=builds \\
                      --out /var/lib/prometheus/node-exporter/perflog-builds.prom
                """)

        /// Every format `export` writes.
        enum Format: String, ExpressibleByArgument, CaseIterable {
            case ndjson, json, csv, markdown, openmetrics, prometheus, seed

            /// The raw-event format, or `nil` for a summary.
            var events: EventExportFormat? {
                switch self {
                case .ndjson: return .ndjson
                case .csv: return .csv
                case .seed: return .seed
                case .json, .markdown, .openmetrics, .prometheus: return nil
                }
            }

            /// The summary format, or `nil` for raw events.
            var summary: SummaryFormat? {
                switch self {
                case .json: return .json
                case .markdown: return .markdown
                case .openmetrics: return .openmetrics
                case .prometheus: return .prometheus
                case .ndjson, .csv, .seed: return nil
                }
            }
        }

        @Option(help: ArgumentHelp("What to write: ndjson, json, csv, markdown, openmetrics, prometheus or seed.", valueName: "format"))
        var format: Format

        @Option(name: .customLong("label"), help: ArgumentHelp(
            "A constant label for every series of openmetrics and prometheus (repeatable).", valueName: "name=value"))
        var labels: [String] = []

        @Option(help: ArgumentHelp(
            "Write to this file (replaced atomically) instead of standard output.", valueName: "file"),
            completion: .file())
        var out: String?

        @OptionGroup var filter: FilterOptions

        @OptionGroup var time: TimeRangeOptions

        @OptionGroup var log: LogOptions

        func run() throws {
            let streamFilter = try filter.filter()
            let now = EventClock.wallNs()
            let range = try time.range(now: now)
            let constantLabels: MetricLabels
            do { constantLabels = try MetricLabels(parsing: labels) } catch { throw CLIFailure(error) }
            if !labels.isEmpty && format != .openmetrics && format != .prometheus {
                throw CLIFailure(.usage, "--label: only openmetrics and prometheus have labels (not \(format.rawValue))")
            }
            let eventLog = try log.openForReading()
            let target = try out.map { path throws(CLIFailure) in try OutputTarget.replacing(path) } ?? .standardOutput()
            // The library hands on only its own errors: the output's failure is kept here.
            var outputFailure: CLIFailure?
            do {
                if let raw = format.events {
                    try eventLog.exportEvents(raw, streamFilter, timeRange: range) { chunk in
                        do throws(CLIFailure) { try target.write(chunk) } catch {
                            outputFailure = error
                            throw error
                        }
                    }
                } else if let summary = format.summary {
                    var options = Projector.Options()
                    // Only the JSON lists every measure; the other summaries would drop them.
                    options.measurements = summary == .json
                    options.timeRange = range
                    let projection = try eventLog.read { r in
                        try Projector.project(r, filter: streamFilter, now: now, options: options)
                    }
                    try target.write(projection.rendered(summary, labels: constantLabels))
                }
            } catch {
                throw outputFailure ?? CLIFailure.from(error)
            }
            try target.commit()
        }
    }
}
