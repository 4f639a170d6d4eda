import ArgumentParser
import PerfLog

extension Perflog {
    /// `perflog report`: the log as one self-contained HTML page.
    struct Report: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write an HTML report: which CLI is fastest for each agent, and how each stream's durations look.",
            discussion: """
                One self-contained HTML file (inline styles and charts, no script, font or \
                image from the network; it works opened from disk and in a browser without \
                access to anything), written atomically. It shows:

                  Overview          every stream: count, failures, in flight, abandoned, \
                mean, p50, p95 and a bar of its range (fastest to slowest run, the block from \
                p50 to p95) on one scale for all streams; click a column title to sort
                  CLIs by agent     for each agent with several CLIs: the mean of each with \
                its ≈95% interval (mean ± 1.96 standard errors), p50 and p95, the speed \
                relative to the fastest (± one standard error) and Welch's p-value against \
                it, the fastest marked ★
                  Change            with --baseline, each stream's change of mean against \
                an earlier agent-performance.json and its p-value: faster, slower, or no \
                significant change
                  Streams           per stream: every figure of agent-performance.json, \
                the window's durations on one axis (logarithmic when the slowest run is more \
                than 20 times the fastest), the durations over time with failures marked ×, \
                and the measures as a table

                Every figure is the projection's, as `perflog project` writes it to \
                agent-performance.json (elements carry the file's key and value in \
                data-field and data-v). Charts carry text alternatives. Light and dark \
                follow the browser's setting. In a log of more than 1,000 streams the \
                overview lists the 1,000 with the most measures in their window, and the \
                first 50 streams of the overview are drawn in detail; the CLIs of the \
                first 50 agents with several are compared; --agent narrows the report to \
                one agent.

                --since and --until keep the measures (and open marks) of that time span, \
                as ISO 8601 times or ages (2h: two hours ago). `perflog serve --http` serves \
                the same page at / and refreshes its figures every few seconds.

                Default output: perflog-report.html beside the log (for the default log, \
                .planning/metrics/perflog-report.html); --out - writes to standard output. \
                Prints the path, the streams and the size; --json prints them as one JSON \
                object (keys path, streams, measurements, bytes). A missing log exits 66, an \
                unreadable or invalid --baseline 65, an output that cannot be created 73.

                Examples:
                  perflog report
                  perflog report --agent planner --since 24h --out planner.html
                  perflog report --baseline last-week/agent-performance.json
                """)

        @Option(help: ArgumentHelp(
            "The file to write (replaced atomically); - for standard output. Default: perflog-report.html beside the log.",
            valueName: "file"),
            completion: .file(extensions: ["html"]))
        var out: String?

        @Option(help: ArgumentHelp(
            "An earlier agent-performance.json to show each stream's change against.", valueName: "file"),
            completion: .file(extensions: ["json"]))
        var baseline: String?

        @Option(help: ArgumentHelp("The page's title.", valueName: "text"))
        var title: String = "perflog report"

        @OptionGroup var filter: FilterOptions

        @OptionGroup var time: TimeRangeOptions

        @Flag(help: "Print what was written as one JSON object instead of text.")
        var json = false

        @OptionGroup var log: LogOptions

        /// The report's file name beside the log.
        static let fileName = "perflog-report.html"

        func run() throws {
            let streamFilter = try filter.filter()
            let now = EventClock.wallNs()
            let range = try time.range(now: now)
            var options = HTMLReport.Options()
            options.title = title
            if let baseline {
                let bytes: [UInt8]
                switch FilePath.readAll(baseline) {
                case .success(let b): bytes = b
                case .failure(let failure): throw CLIFailure.invalid("--baseline", "cannot read \(baseline): \(failure.reason)")
                }
                do { options.baseline = try ReportBaseline(json: bytes) } catch {
                    throw CLIFailure(.data, "--baseline: \(baseline) \(Self.rule(error))")
                }
                options.baselineName = baseline
            }
            let path = try log.path()
            let eventLog = try log.openForReading()
            var projectorOptions = Projector.Options()
            projectorOptions.timeRange = range
            let projection = try readingLog {
                try eventLog.read { r in try Projector.project(r, filter: streamFilter, now: now, options: projectorOptions) }
            }
            options.logPath = path
            options.scope = [filter.described, time.described].filter { !$0.isEmpty }.joined(separator: " ")
            let page = HTMLReport.render(projection, options: options)
            let destination = out ?? LogLocation.beside(path, Self.fileName)
            let target = destination == "-" ? OutputTarget.standardOutput() : try OutputTarget.replacing(destination)
            try target.write(String(decoding: page, as: UTF8.self))
            try target.commit()
            guard destination != "-" else { return }
            let measures = projection.streams.reduce(0) { $0 + $1.count }
            if json {
                Terminal.out("{\"path\":\(JSONBuffer.quoted(destination)),\"streams\":\(projection.streams.count),\"measurements\":\(measures),\"bytes\":\(page.count)}\n")
            } else {
                let streams = projection.streams.count
                Terminal.out("wrote \(Terminal.oneLine(destination)) (\(streams) stream\(streams == 1 ? "" : "s"), \(measures) measure\(measures == 1 ? "" : "s"), \(HumanFormat.bytes(page.count)))\n")
            }
        }

        /// The rule a baseline breaks, without the field name the library puts first.
        static func rule(_ error: PerfLogError) -> String {
            if case .invalidInput(_, let rule) = error { return rule }
            return "\(error)"
        }
    }
}
