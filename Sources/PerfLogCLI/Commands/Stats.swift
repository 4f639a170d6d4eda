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
                ended. The durations (MEAN, MIN, P50 … P99, MAX, STDDEV) are over the \
                successful runs only, since a fast crash is not a fast run; a figure that \
                does not exist (a stream without a successful run) shows –, and figures \
                computed from fewer than 5 successful runs start with ~ (a footnote says so). \
                Percentiles interpolate linearly between the closest ranks; STDDEV is the \
                sample standard deviation.

                --since and --until count only the measures (and marks in flight) whose \
                time is in the range, within each window; streams with nothing in it are \
                left out.

                On a terminal a last column, WINDOW, draws the window's durations \
                oldest to newest as a small bar chart (▁ fastest … █ slowest of that \
                stream; × where every run failed); with more than 16 measures each bar is \
                the mean of a slice of the window.

                The table fits the terminal's width (or $COLUMNS when set; into a pipe \
                without it, every column): when the whole table does not fit, long agent \
                and CLI names are cut with … and then columns are left out in this \
                order: WINDOW, STDDEV, P90, MIN, P99, MAX, IN FLIGHT, P50 (so that at 132 \
                columns every figure shows, and at 80 the count, failures, in flight, \
                mean, p50 and p95). AGENT, CLI, COUNT, FAILURES, MEAN and P95 always stay. On a terminal failure counts \
                above 0 are red, and in each agent with more than one stream the P95 of \
                its slowest stream is yellow (--color never|auto|always; NO_COLOR turns \
                auto off). Under a locale that is not UTF-8 (LC_ALL, LC_CTYPE, LANG) the \
                table is plain ASCII: - for –, ... for …, us for µs, and the sparkline \
                drawn with _.-=# (x for failed).

                Rows are ordered by agent then CLI, or by --sort: mean, p50 and p95 \
                fastest first (streams without a successful run last); count and \
                failures most first.

                --json prints one JSON array of the stream objects exactly as \
                agent-performance.json lists them under "streams" (keys agent, cli, \
                count, failures, inFlight, abandoned, meanMs, minMs, p50Ms, p90Ms, p99Ms, \
                maxMs, stddevMs, firstAt, lastAt, p95Ms, outliers, total, totalFailures; \
                total and totalFailures count every measure since the lifetime counters \
                started, not only the window's; abandoned counts the marks in flight for \
                over an hour; outliers counts the successful durations of the window \
                whose modified z-score (their distance from the median in units of the \
                median absolute deviation, times 0.6745) is above 3.5, Iglewicz and \
                Hoaglin's rule; durations in milliseconds, times ISO 8601 UTC).

                With both --agent and --cli only that stream's ring is read, however \
                large the log. No stream matching is not an error: perflog says so (or \
                prints [] with --json) and exits 0. The log is opened read-only; a missing \
                log exits 66.

                Examples:
                  perflog stats
                  perflog stats --agent planner --sort mean
                  perflog stats --since 2026-12-01 --until 2026-12-08
                  perflog stats --agent planner --cli claude --json | jq '.[0].p95Ms'
                """)

        /// What `--sort` orders by.
        enum SortKey: String, ExpressibleByArgument, CaseIterable {
            case mean, p50, p95, count, failures
        }

        @OptionGroup var filter: FilterOptions

        @OptionGroup var time: TimeRangeOptions

        @Option(help: ArgumentHelp(
            "Order rows by mean, p50 or p95 (fastest first), or by count or failures (most first).",
            valueName: "key"))
        var sort: SortKey?

        @Flag(help: "Print a JSON array of stream objects, as in agent-performance.json.")
        var json = false

        @OptionGroup var output: OutputOptions

        @OptionGroup var log: LogOptions

        func run() throws {
            let streamFilter = try filter.filter()
            let now = EventClock.wallNs()
            let range = try time.range(now: now)
            let eventLog = try log.openForReading()
            let style = output.style()
            let sparklines = !json && style.terminal

            let (streams, windows): ([StreamStatistics], [StreamName: [Event]]) = try readingLog {
                try eventLog.read { r in
                    var streams: [StreamStatistics]
                    if let one = filter.stream {
                        // One ring and the open marks: cheap however large the log is.
                        streams = try Projector.statistics(r, stream: one, now: now, timeRange: range).map { [$0] } ?? []
                    } else {
                        var options = Projector.Options()
                        options.measurements = false
                        options.timeRange = range
                        streams = try Projector.project(r, filter: streamFilter, now: now, options: options).streams
                    }
                    var windows: [StreamName: [Event]] = [:]
                    if sparklines {
                        for s in streams { windows[s.stream] = try r.ring(s.stream).filter { range.contains($0.wallTimeNs) } }
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
                let asked = [filter.described, time.described].filter { !$0.isEmpty }.joined(separator: " ")
                Terminal.out(style.text(asked.isEmpty ? "The log holds no streams yet.\n" : "No stream matches \(asked).\n"))
                return
            }
            Terminal.out(Self.table(ordered, windows: sparklines ? windows : nil, style: style))
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

        /// The columns of the table, in the order shown.
        enum Column: Int, CaseIterable {
            // Each is what its header says; WINDOW is the sparkline.
            case agent, cli, count, failures, inFlight, mean, min, p50, p90, p95, p99, max, stddev, window

            /// The column's title.
            var header: String {
                switch self {
                case .inFlight: return "IN FLIGHT"
                case .window: return "WINDOW"
                default: return String(describing: self).uppercased()
                }
            }
        }

        /// The columns a narrow terminal drops, the first to go first; AGENT, CLI, COUNT,
        /// FAILURES, MEAN and P95 always stay.
        static let dropOrder: [Column] = [.window, .stddev, .p90, .min, .p99, .max, .inFlight, .p50]

        /// The widest AGENT and CLI columns once names must be cut, and the narrowest
        /// they are cut to before the table gives up fitting (display columns).
        static let nameLimits = (agent: 20, cli: 14), nameMinimums = (agent: 8, cli: 6)

        /// Streams with fewer successful runs than this have their figures marked as rough.
        static let fewSamples = 5

        /// What precedes a rough figure, and the footnote that explains it.
        static let roughMark = "~", roughNote = "~ from fewer than 5 successful runs"

        /// The aligned table, with a WINDOW column when `windows` is given, fitted to
        /// `style.width` (see the command's help for the order in which columns go).
        static func table(_ streams: [StreamStatistics], windows: [StreamName: [Event]]?, style: OutputStyle) -> String {
            var columns = Column.allCases
            if windows == nil { columns.removeLast() }
            var table = TextTable(headers: columns.map(\.header),
                                  rightAligned: Set(columns.filter { $0 != .agent && $0 != .cli && $0 != .window }.map(\.rawValue)))
            let slowest = slowestP95(streams)
            let anyRough = streams.contains { isRough($0) }
            for s in streams {
                let d = s.durations
                // In front, so that right-aligned units still line up.
                let mark = isRough(s) ? roughMark : ""
                func figure(_ ns: Double?, _ tint: OutputStyle.Tint? = nil) -> TextTable.Cell {
                    guard let text = duration(ns) else { return TextTable.Cell(style.none, .dim) }
                    return TextTable.Cell(mark + text, tint)
                }
                var cells: [TextTable.Cell] = [
                    TextTable.Cell(Terminal.oneLine(s.stream.agent)), TextTable.Cell(Terminal.oneLine(s.stream.cli)),
                    TextTable.Cell("\(s.count)"), TextTable.Cell("\(s.failures)", s.failures > 0 ? .red : nil),
                    TextTable.Cell("\(s.inFlight)"),
                    figure(d?.meanNs), figure(d?.minNs), figure(d?.p50Ns), figure(d?.p90Ns),
                    figure(d?.p95Ns, slowest.contains(s.stream) ? .yellow : nil), figure(d?.p99Ns), figure(d?.maxNs),
                    figure(d?.stddevNs),
                ]
                if let windows {
                    let line = Sparkline.render(windows[s.stream] ?? [], ascii: !style.unicode)
                    cells.append(line.isEmpty ? TextTable.Cell(style.none, .dim) : TextTable.Cell(line))
                }
                table.append(cells)
            }
            var out = fitted(table, columns: columns, width: style.width, style).rendered(style)
            if anyRough {
                out += style.paint(style.text(roughNote), .dim) + "\n"
            }
            return out
        }

        /// Whether `s`'s figures come from too few successful runs to trust much.
        static func isRough(_ s: StreamStatistics) -> Bool {
            guard let d = s.durations else { return false }
            return d.count < fewSamples
        }

        /// Per agent with more than one stream with successful runs, its stream of the
        /// highest P95 (the first of equal ones).
        static func slowestP95(_ streams: [StreamStatistics]) -> Set<StreamName> {
            var byAgent: [String: [StreamStatistics]] = [:]
            for s in streams where s.durations != nil { byAgent[s.stream.agent, default: []].append(s) }
            var out: Set<StreamName> = []
            for (_, group) in byAgent where group.count > 1 {
                var slowest = group[0]
                for s in group.dropFirst() where (s.durations?.p95Ns ?? 0) > (slowest.durations?.p95Ns ?? 0) { slowest = s }
                out.insert(slowest.stream)
            }
            return out
        }

        /// `table` (whose columns are `columns`) made to fit `width` display columns:
        /// names cut to ``nameLimits``, then columns dropped in ``dropOrder``, then names
        /// cut further down to ``nameMinimums``. Without a width, `table` itself.
        static func fitted(_ table: TextTable, columns: [Column], width: Int?, _ style: OutputStyle) -> TextTable {
            guard let width else { return table }
            var table = table
            let natural = table.columnWidths(style)
            var kept = Array(columns.indices)
            var widths = natural
            func total() -> Int { kept.reduce(0) { $0 + widths[$1] } + 2 * (kept.count - 1) }
            func limitNames(agent: Int, cli: Int) {
                widths[Column.agent.rawValue] = Swift.min(natural[Column.agent.rawValue], agent)
                widths[Column.cli.rawValue] = Swift.min(natural[Column.cli.rawValue], cli)
            }
            if total() > width { limitNames(agent: nameLimits.agent, cli: nameLimits.cli) }
            for column in dropOrder where total() > width {
                guard let at = columns.firstIndex(of: column) else { continue }
                kept.removeAll { $0 == at }
            }
            var agent = widths[Column.agent.rawValue], cli = widths[Column.cli.rawValue]
            while total() > width && (agent > nameMinimums.agent || cli > nameMinimums.cli) {
                // Cut the name with the more room above its minimum.
                if agent - nameMinimums.agent >= cli - nameMinimums.cli { agent -= 1 } else { cli -= 1 }
                limitNames(agent: agent, cli: cli)
            }
            for column in [Column.agent, .cli] where widths[column.rawValue] < natural[column.rawValue] {
                table.maxWidths[column.rawValue] = widths[column.rawValue]
            }
            return table.keeping(kept)
        }

        /// A computed duration (nanoseconds) in readable units; `nil` when there is none.
        static func duration(_ ns: Double?) -> String? {
            guard let ns, ns.isFinite else { return nil }
            return HumanFormat.duration(nanoseconds: UInt64(max(0, ns).rounded()))
        }
    }
}
