import ArgumentParser
import PerfLog
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension Perflog {
    /// `perflog forget`: removes an agent's streams (or one stream) from the log.
    struct Forget: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove an agent's streams (or one stream) from the log, for good.",
            discussion: """
                Removes every stream of --agent (with --cli, only that one stream) \
                entirely: its measures, its marks in flight, its lifetime counters and its \
                name. Other streams are not touched. It is one commit: a crash or a full \
                disk leaves the log as it was. To join a misspelt stream to the right one \
                instead, use `perflog rename`.

                On a terminal (standard input and standard error both terminals) perflog \
                asks first:
                  forget 2 streams (130 events) of planner? [y/N]
                and goes on only for y or yes; any other answer forgets nothing and exits \
                1. Anywhere else --yes is needed: without it nothing is forgotten and the \
                exit status is 64. Events counts the measures of the windows and the marks \
                in flight.

                For each stream it prints
                  forgot planner/claude (100 measures, 2 in flight)
                or, with --json, one object: {"forgotten": [{agent, cli, measures, \
                inFlight, lifetimeMeasures}]}. Names that begin or end with a space are \
                shown in quotes.

                A recorder that goes on recording under the name makes the stream anew, \
                with lifetime counters that start then (Prometheus sees a counter reset). \
                A compaction running meanwhile is waited for, up to --wait.

                Exit status: 0 forgotten; 1 declined at the prompt; 64 not on a terminal \
                and no --yes; 65 an invalid name, or the log holds nothing of the agent \
                (or stream), naming what it does hold; 66 there is no log; 74 the log \
                is damaged or cannot be written; 75 the log stayed busy past --wait.

                Examples:
                  perflog forget --agent ' planner '
                  perflog forget --agent planner --cli claude --yes
                  perflog forget --agent scratch --yes --json | jq '.forgotten | length'
                """)

        @OptionGroup var selection: StreamSelection

        @Flag(name: .customLong("yes"), help: "Forget without asking (needed when not on a terminal).")
        var confirmed = false

        @Flag(help: "Print one JSON object: what was forgotten.")
        var json = false

        @OptionGroup var log: LogOptions

        func run() throws {
            try selection.validateNames()
            let eventLog = try log.openExistingForWriting()
            let streams = try selection.streams(in: eventLog)
            if !confirmed { try confirm(streams, of: selection) }
            let forgotten = try readingLog { try eventLog.forget(streams.map(\.stream)) }
            // Gone between the look and the commit (another forget): as if never there.
            if forgotten.isEmpty { _ = try selection.streams(in: eventLog) }
            Terminal.out(json ? Self.jsonObject(forgotten) : Self.text(forgotten))
        }

        /// Asks on a terminal; refuses (64) anywhere else.
        /// - Throws: ``CLIFailure``: 64 without a terminal to ask on; `ExitCode(1)` when
        ///   the answer is not yes.
        private func confirm(_ streams: [StreamSummary], of selection: StreamSelection) throws {
            let events = streams.reduce(0) { $0 + $1.count + $1.inFlight }
            let what = "\(streams.count) stream\(streams.count == 1 ? "" : "s") (\(events) event\(events == 1 ? "" : "s")) of \(selection.described)"
            guard isatty(STDIN_FILENO) == 1, isatty(STDERR_FILENO) == 1 else {
                throw CLIFailure(.usage, "forget would remove \(what) for good; pass --yes to confirm (there is no terminal to ask on)")
            }
            Terminal.write("forget \(what)? [y/N] ", to: STDERR_FILENO)
            let answer = (readLine() ?? "").trimmingSpaces.lowercased()
            guard answer == "y" || answer == "yes" else {
                Terminal.status("nothing was forgotten")
                throw ExitCode(1)
            }
        }

        /// One line a stream: `forgot planner/claude (100 measures, 2 in flight)`.
        static func text(_ forgotten: [ForgottenStream]) -> String {
            forgotten.map { f in
                "forgot \(HumanFormat.stream(f.stream)) (\(f.measures) measure\(f.measures == 1 ? "" : "s"), \(f.inFlight) in flight)\n"
            }.joined()
        }

        /// `{"forgotten":[{"agent":…,"cli":…,"measures":…,"inFlight":…,"lifetimeMeasures":…}]}`.
        static func jsonObject(_ forgotten: [ForgottenStream]) -> String {
            let items = forgotten.map { f in
                "{\"agent\":\(JSONBuffer.quoted(f.stream.agent)),\"cli\":\(JSONBuffer.quoted(f.stream.cli)),"
                    + "\"measures\":\(f.measures),\"inFlight\":\(f.inFlight),\"lifetimeMeasures\":\(f.lifetime.total)}"
            }
            return "{\"forgotten\":[" + items.joined(separator: ",") + "]}\n"
        }
    }
}
