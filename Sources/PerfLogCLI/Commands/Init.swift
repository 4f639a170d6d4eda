import ArgumentParser
import PerfLog

extension Perflog {
    /// `perflog init`: creates a log with chosen settings.
    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a log with its ring size and histogram buckets chosen.",
            discussion: """
                Any writing command creates a missing log with the defaults: a ring of \
                100 measures per stream and duration buckets for invocations from 5 ms \
                to an hour (5, 10, 25, 50, 100, 250, 500 ms; 1, 2.5, 5, 10, 30 s; 1, 2, \
                5, 10, 30, 60 min). init creates it with others instead.

                The buckets are the upper bounds of the lifetime histogram that \
                /metrics and export --format openmetrics show as \
                perflog_invocation_duration_seconds_bucket{le=...}. They are fixed when \
                the log is created: give every log of a fleet the same bounds, so that \
                Prometheus can add their histograms up. The ring size can be changed \
                later with perflog compact --retain N.

                On a log that exists already, init changes nothing: it exits 0 when \
                the log has the settings asked for (or none were asked), and 65 when \
                it has others.

                Examples:
                  perflog init
                  perflog init --retain 1000
                  perflog init --buckets 1s,5s,15s,1m,5m,15m,1h
                """)

        @Option(help: ArgumentHelp("Measures kept per stream (1 to 1000000). Default: 100.", valueName: "n"))
        var retain: Int?

        // Unconditional, so that `--buckets -1s` gets the rule instead of "missing value".
        @Option(
            parsing: .unconditional,
            help: ArgumentHelp(
                "The histogram's upper bounds: increasing durations, comma-separated (a bare number is ms).",
                discussion: "1 to 64 bounds, each a number and a unit (ns, us, ms, s, m, h), e.g. 100ms,1s,10s,1m.",
                valueName: "durations"))
        var buckets: String?

        @Flag(help: "Print one JSON object: path, created, retain, buckets (seconds).")
        var json = false

        @OptionGroup var log: LogOptions

        func run() throws {
            var options = EventLog.Options()
            options.waitLimit = log.location.waitLimit
            if let retain {
                guard retain >= 1 && retain <= EventLog.maxRetain else {
                    throw CLIFailure.invalid("--retain", "must be between 1 and \(EventLog.maxRetain) (got \(retain))")
                }
                options.retain = retain
            }
            let asked = try buckets.map { text throws(CLIFailure) in try Init.bounds(text) }
            if let asked { options.bucketBounds = asked }

            let path = try log.path()
            let existed = EventLog.hasDataFile(in: path)
            let eventLog: EventLog
            let bounds: BucketBounds
            do {
                eventLog = try EventLog(path: path, options: options)
                bounds = try eventLog.read { r in try r.bucketBounds() }
            } catch {
                throw CLIFailure(error)
            }
            if existed {
                if let retain, retain != eventLog.retain {
                    throw CLIFailure.invalid(
                        "--retain", "the log at \(path) exists with a ring of \(eventLog.retain); change it with perflog compact --retain \(retain)")
                }
                if let asked, asked != bounds {
                    throw CLIFailure.invalid(
                        "--buckets", "the log at \(path) exists with other bounds (\(Init.text(bounds))); they are fixed when a log is created")
                }
            }
            if json {
                let text = JSONBuffer.text { j in
                    j.raw("{\"path\":")
                    j.quoted(path)
                    j.raw(existed ? ",\"created\":false" : ",\"created\":true")
                    j.raw(",\"retain\":")
                    j.uint(UInt64(eventLog.retain))
                    j.raw(",\"buckets\":[")
                    for (i, ns) in bounds.nanoseconds.enumerated() {
                        if i > 0 { j.raw(",") }
                        j.decimal(ns, places: 9)
                    }
                    j.raw("]}")
                }
                Terminal.out(text + "\n")
            } else {
                Terminal.out(
                    "\(existed ? "a log is already at" : "created") \(path): retain \(eventLog.retain), buckets \(Init.text(bounds))\n")
            }
        }

        /// Parses `--buckets`.
        /// - Throws: ``CLIFailure`` (exit 65) naming the bound or the rule that fails.
        static func bounds(_ text: String) throws(CLIFailure) -> BucketBounds {
            var ns: [UInt64] = []
            for part in text.split(separator: ",", omittingEmptySubsequences: false) {
                ns.append(try DurationParser.nanoseconds(String(part), field: "--buckets"))
            }
            do {
                return try BucketBounds(nanoseconds: ns)
            } catch {
                guard case .invalidInput(_, let rule) = error else { throw CLIFailure(error) }
                throw CLIFailure.invalid("--buckets", rule)
            }
        }

        /// The bounds as people read them: `5ms, 10ms, …, 1h`.
        static func text(_ bounds: BucketBounds) -> String {
            bounds.nanoseconds.map { HumanFormat.duration(nanoseconds: $0) }.joined(separator: ", ")
        }
    }
}
