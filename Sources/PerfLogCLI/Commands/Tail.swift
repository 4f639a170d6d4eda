import ArgumentParser
import PerfLog

extension Perflog {
    /// `perflog tail`: the newest events, optionally following new ones.
    struct Tail: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the newest events, oldest first; -f keeps printing new ones.",
            discussion: """
                Events are shown in commit order: measures (finished invocations) and \
                marks still in flight. Times are UTC with milliseconds. --json prints one \
                NDJSON object a line, keys in the order seq, time, kind, agent, cli, \
                invocation, durationMs, outcome, exitCode, signal, pid, meta (absent ones \
                left out; durationMs and outcome on measures only; signal, the number of \
                the signal that ended a failed measure, instead of exitCode; time in UTC \
                with microseconds). The table shows such a measure as failed (killed by \
                SIGKILL), or failed (signal N) for a signal without a common name.

                --since and --until keep the events whose time (a measure's end, a \
                mark's start) is in the range: -n counts the newest events within it, \
                and with -f only new events within it are printed (an --until in the \
                past prints nothing new).

                The table's columns have fixed widths, so the rows of a long -f session \
                line up with its header: AGENT and CLI are 20 and 12 columns wide (less \
                on a narrow terminal) and longer names are cut with …. On a terminal \
                failed outcomes are red (--color never|auto|always; NO_COLOR turns \
                auto off); under a locale that is not UTF-8 the table is plain ASCII.

                With -f, perflog checks the log about every 50 ms and prints what was \
                committed since, flushing each batch, until interrupted (SIGINT or \
                SIGTERM, exit 0). Without -f a missing log exits 66; with -f perflog says \
                on standard error that it is waiting for the log, and waits for it to \
                appear. The log is opened read-only and never changed.

                Examples:
                  perflog tail -n 50 --agent planner
                  perflog tail --since 2h --until 1h
                  perflog tail -f --json | jq -c 'select(.outcome == "failed")'
                """)

        @Option(name: [.customShort("n"), .customLong("lines")], parsing: .unconditional, help: ArgumentHelp(
            "How many of the newest events to show.", valueName: "count"))
        var count: Int = 10

        @Flag(name: [.customShort("f"), .customLong("follow")], help: "Keep printing events as they are committed.")
        var follow = false

        @OptionGroup var streams: FilterOptions

        @OptionGroup var time: TimeRangeOptions

        @Flag(help: "Print NDJSON (one JSON object a line) instead of aligned columns.")
        var json = false

        @OptionGroup var output: OutputOptions

        @OptionGroup var log: LogOptions

        /// How long to wait between looks at the log while following, in milliseconds.
        static let pollMilliseconds = 50

        func run() throws {
            // A count that is not one is a command-line error, as `-n abc` is (exit 64).
            guard count >= 0 else { throw CLIFailure(.usage, "-n/--lines: must be a number of events, 0 or more (got \(count))") }
            let filter = try streams.filter()
            let range = try time.range(now: EventClock.wallNs())
            var printer = Printer(json: json, style: output.style())

            guard follow else {
                let eventLog = try log.openForReading()
                let events = try readingLog { try eventLog.read { r in try r.tail(count, filter, timeRange: range) } }
                printer.print(events)
                return
            }

            StopRequest.install()
            guard let (eventLog, waited) = try log.openWhenPresent(
                pollMilliseconds: Self.pollMilliseconds, announcingWait: true,
                { () throws(CLIFailure) in try log.openForReading() }) else { return }
            // A log that appeared while we waited is new to us from its first event on.
            var last: UInt64 = 0
            let initial: [Event] = try readingLog {
                try eventLog.read { r in
                    last = try r.lastSeq()
                    return waited ? try r.timeline(after: 0, limit: .max, filter).filter { range.contains($0.wallTimeNs) }
                                  : try r.tail(count, filter, timeRange: range)
                }
            }
            printer.print(initial)
            while !StopRequest.requested {
                Pause.pause(milliseconds: Self.pollMilliseconds)
                if StopRequest.requested { break }
                let seen = last
                let batch: [Event] = try readingLog {
                    try eventLog.read { r in
                        let now = try r.lastSeq()
                        guard now != seen else { return [] }
                        last = now
                        return try r.timeline(after: seen, limit: .max, filter).filter { range.contains($0.wallTimeNs) }
                    }
                }
                printer.print(batch)
            }
        }
    }
}

/// Prints batches of events as NDJSON or as an aligned table, one write per batch.
private struct Printer {
    let json: Bool
    var table: EventTable

    init(json: Bool, style: OutputStyle) {
        self.json = json
        table = EventTable(style: style)
    }

    mutating func print(_ events: [Event]) {
        guard !events.isEmpty else { return }
        if json {
            var out = ""
            for e in events {
                out += e.jsonLine
                out += "\n"
            }
            Terminal.out(out)
        } else {
            Terminal.out(table.render(events))
        }
    }
}
