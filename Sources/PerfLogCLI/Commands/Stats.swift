import ArgumentParser
import PerfLog
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension Perflog {
    /// `perflog stats`: per-stream figures over each stream's retained window.
    struct Stats: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show per-stream statistics: count, failures, mean and percentiles.",
            discussion: """
                One row per stream (agent, CLI) over its retained window, the newest \
                measures the log keeps (100 by default): COUNT is every measure in it, \
                FAILURES those that failed, IN FLIGHT the invocations started and not yet \
                ended. The durations (MEAN, P50 … P99, MAX, STDDEV) are over the \
                successful runs only, since a fast crash is not a fast run; a stream \
                without one shows –. Percentiles interpolate linearly between the closest \
                ranks; STDDEV is the sample standard deviation.

                On a terminal a last column, WINDOW, draws the window's durations \
                oldest to newest as a small bar chart (▁ fastest … █ slowest of that \
                stream; × where every run failed); with more than 16 measures each bar is \
                the mean of a slice of the window.

                Rows are ordered by agent then CLI, or by --sort: mean, p50 and p95 \
                fastest first (streams without a successful run last); count and \
                failures most first.

                --json prints one JSON array of the stream objects exactly as \
                agent-performance.json lists them under "streams" (keys agent, cli, \
                count, failures, inFlight, abandoned, meanMs, minMs, p50Ms, p90Ms, p99Ms, \
                maxMs, stddevMs, firstAt, lastAt, p95Ms, outliers, total, totalFailures; \
                total and totalFailures count every measure since the lifetime counters \
                started, not only the window's; milliseconds).

                With both --agent and --cli only that stream's ring is read, however \
                large the log. No stream matching is not an error: perflog says so (or \
                prints [] with --json) and exits 0. The log is opened read-only; a missing \
                log exits 66.

                Examples:
                  perflog stats
                  perflog stats --agent planner --sort mean
                  perflog stats --agent planner --cli claude --json | jq '.[0].p95Ms'
                """)

        /// What `--sort` orders by.
        enum SortKey: String, ExpressibleByArgument, CaseIterable {
            case mean, p50, p95, count, failures
        }

        @OptionGroup var filter: FilterOptions

        @Option(help: ArgumentHelp(
            "Order rows by mean, p50 or p95 (fastest first), or by count or failures (most first).",
            valueName: "key"))
        var sort: SortKey?

        @Flag(help: "Print a JSON array of stream objects, as in agent-performance.json.")
        var json = false

        @OptionGroup var log: LogOptions

        func run() throws {
            let streamFilter = try filter.filter()
            let eventLog = try log.openForReading()
            let sparklines = !json && isatty(STDOUT_FILENO) == 1
            let now = EventClock.wallNs()

            let (streams, windows): ([StreamStatistics], [StreamName: [Event]]) = try readingLog {
                try eventLog.read { r in
                    var streams: [StreamStatistics]
                    if let one = filter.stream {
                        // One ring and the open marks: cheap however large the log is.
                        streams = try Projector.statistics(r, stream: one, now: now).map { [$0] } ?? []
                    } else {
                        var options = Projector.Options()
                        options.measurements = false
                        streams = try Projector.project(r, filter: streamFilter, now: now, options: options).streams
                    }
                    var windows: [StreamName: [Event]] = [:]
                    if sparklines {
                        for s in streams { windows[s.stream] = try r.ring(s.stream) }
                    }
                    return (streams, windows)
                }
            }
            let ordered = sort.map { Self.sorted(streams, by: $0) } ?? streams

            if json {
                Terminal.out(Self.jsonArray(ordered))
                return
            }
            guard !ordered.isEmpty else {
                Terminal.out(filter.described.isEmpty
                    ? "The log holds no streams yet.\n"
                    : "No stream matches \(filter.described).\n")
                return
            }
            Terminal.out(Self.table(ordered, windows: sparklines ? windows : nil))
        }

        /// `streams` as one JSON array, one stream object a line.
        static func jsonArray(_ streams: [StreamStatistics]) -> String {
            guard !streams.isEmpty else { return "[]\n" }
            return "[\n" + streams.map { "  " + $0.jsonObject }.joined(separator: ",\n") + "\n]\n"
        }

        /// `streams` ordered by `key`; ties keep their order (agent, then CLI).
        static func sorted(_ streams: [StreamStatistics], by key: SortKey) -> [StreamStatistics] {
            let indexed = Array(streams.enumerated())
            func duration(_ s: StreamStatistics) -> Double? {
                switch key {
                case .mean: return s.durations?.meanNs
                case .p50: return s.durations?.p50Ns
                case .p95: return s.durations?.p95Ns
                case .count, .failures: return nil
                }
            }
            return indexed.sorted { a, b in
                switch key {
                case .count:
                    if a.element.count != b.element.count { return a.element.count > b.element.count }
                case .failures:
                    if a.element.failures != b.element.failures { return a.element.failures > b.element.failures }
                case .mean, .p50, .p95:
                    switch (duration(a.element), duration(b.element)) {
                    case let (x?, y?) where x != y: return x < y
                    case (.some, nil): return true
                    case (nil, .some): return false
                    default: break
                    }
                }
                return a.offset < b.offset
            }.map(\.element)
        }

        /// The aligned table, with a WINDOW column when `windows` is given.
        static func table(_ streams: [StreamStatistics], windows: [StreamName: [Event]]?) -> String {
            var headers = ["AGENT", "CLI", "COUNT", "FAILURES", "IN FLIGHT", "MEAN", "P50", "P90", "P95", "P99", "MAX", "STDDEV"]
            if windows != nil { headers.append("WINDOW") }
            var table = TextTable(headers: headers, rightAligned: Set(2...11))
            for s in streams {
                let d = s.durations
                var cells = [Terminal.oneLine(s.stream.agent), Terminal.oneLine(s.stream.cli), "\(s.count)", "\(s.failures)",
                             "\(s.inFlight)"]
                cells += [d?.meanNs, d?.p50Ns, d?.p90Ns, d?.p95Ns, d?.p99Ns, d?.maxNs, d?.stddevNs].map(duration)
                if let windows { cells.append(Sparkline.render(windows[s.stream] ?? [])) }
                table.append(cells)
            }
            return table.rendered
        }

        /// A computed duration (nanoseconds) in readable units; – when there is none.
        static func duration(_ ns: Double?) -> String {
            guard let ns, ns.isFinite else { return "–" }
            return HumanFormat.duration(nanoseconds: UInt64(max(0, ns).rounded()))
        }
    }
}
