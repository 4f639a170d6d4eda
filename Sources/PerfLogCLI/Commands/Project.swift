import ArgumentParser
import PerfLog
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension Perflog {
    /// `perflog project`: writes `agent-performance.json`, once or whenever the log changes.
    struct Project: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write agent-performance.json from the log; --watch keeps it up to date.",
            discussion: """
                The file holds, over each stream's retained window, the figures perflog \
                stats shows, each agent's CLI comparison (perflog compare) and every \
                retained measurement, in the old tracker's shape (schema version 1). It \
                goes to agent-performance.json beside the log (for the default log \
                .planning/metrics/agent-performance.json of the project) unless --out \
                names another path; the directory must exist.

                The file is replaced atomically (written beside it, flushed, renamed \
                over it), so readers never see half of it, and only when its content \
                would change: perflog says "wrote PATH (N streams, M measurements)" or \
                "PATH is up to date". --force writes it anyway. An unchanged log gives a \
                byte-identical file. A file perflog did not write (the old tracker's \
                flat array, anything else) is never replaced: project exits 73 and \
                says to import it first (perflog import FILE keeps its history) or to \
                pass --force. --format seed writes the old tracker's flat array of the \
                retained measurements instead (with success), for readers that still \
                expect it; perflog knows that file as its own by the checkpoint it \
                stores in the log. A new file is private (0600; 0660 less the umask in \
                a setgid directory); a replaced one keeps its mode and group. Through a \
                symbolic link the target is replaced (the link stays); a device or FIFO \
                is written directly; a directory is refused (exit 73).

                --watch keeps running and rewrites the file within about 200 ms of any \
                commit by any process, until interrupted (SIGINT or SIGTERM, exit 0). If \
                the file cannot be written, perflog warns once on standard error, keeps \
                watching and retrying, and says so when it can write again. With \
                --watch perflog waits for a log that does not exist yet.

                --json prints one JSON object a line instead of text: path, result \
                (written, unchanged, failed, recovered), streams and measurements (when \
                written or unchanged) or error (when failed).

                The log is never created (a missing log exits 66 without --watch); \
                perflog stores a small checkpoint in it when it may, so that an \
                unchanged log is recognised without projecting it again. A file that \
                cannot be written exits 73 (74 when the disk is full or failed), naming \
                the path and the reason; the old file is left as it was.

                Examples:
                  perflog project
                  perflog project --out site/agent-performance.json --force
                  perflog project --watch &
                  perflog import .planning/metrics/agent-performance.json && perflog project --force
                  perflog project --format seed --out legacy/agent-performance.json
                """)

        /// The projection's file name beside the log, where it goes without `--out`.
        static let fileName = "agent-performance.json"

        @Option(name: .customLong("out"), help: ArgumentHelp(
            "The file to write (relative paths start at the current directory). Default: agent-performance.json beside the log.",
            valueName: "path"), completion: .file())
        var outOption: String?

        /// `--out`, else agent-performance.json beside the log.
        static func destination(_ out: String?, _ log: LogOptions) throws(CLIFailure) -> String {
            if let out { return out }
            return LogLocation.beside(try log.location.resolved().path, fileName)
        }

        @Flag(help: "Keep running and rewrite the file after every change to the log.")
        var watch = false

        @Flag(help: "Write the file even when it already holds the projection, and replace a file perflog did not write.")
        var force = false

        @Option(help: ArgumentHelp(
            "What to write: json (agent-performance.json) or seed (the old tracker's flat array, for readers that still expect it).",
            valueName: "format"))
        var format: Projector.FileFormat = .projection

        @Flag(help: "Print one JSON object a line instead of text.")
        var json = false

        @OptionGroup var log: LogOptions

        func validate() throws {
            if outOption?.isEmpty == true { throw ValidationError("--out must not be empty") }
            if watch && force {
                throw ValidationError("--force and --watch do not go together: the watch writes only what changed")
            }
        }

        func run() throws {
            let out = try Self.destination(outOption, log)
            if watch {
                try runWatch(out)
                return
            }
            let eventLog = try Self.openExisting(log)
            let result: Projector.WriteResult
            do {
                result = try Projector.write(log: eventLog, to: out, format: format, force: force)
            } catch {
                throw CLIFailure(error)
            }
            Terminal.out(Self.describe(result, path: out, counts: Self.counts(eventLog), json: json))
        }

        private func runWatch(_ out: String) throws {
            StopRequest.install()
            guard let (eventLog, _) = try log.openWhenPresent(pollMilliseconds: 50, { () throws(CLIFailure) in try Self.openExisting(log) }) else { return }
            var watcher = ProjectionWatcher(log: eventLog, path: out)
            watcher.format = format
            var failing = false
            var reportedFirst = false
            let json = self.json
            do {
                try watcher.run(until: { StopRequest.requested }) { report in
                    switch report {
                    case .written(let path, _):
                        Terminal.out(Self.describe(.written, path: path, counts: Self.counts(eventLog), json: json))
                    case .unchanged(let path, _):
                        // Said once, at the start; later it would only be noise.
                        if !reportedFirst {
                            Terminal.out(Self.describe(.unchanged, path: path, counts: Self.counts(eventLog), json: json))
                        }
                    case .failed(let path, let failure):
                        // Once per streak of failures: retries happen every second.
                        if !failing {
                            let error = CLIFailure.message(failure)
                            Terminal.warning("\(error); still watching, retrying every second")
                            if json {
                                Terminal.out("{\"path\":\(JSONBuffer.quoted(path)),\"result\":\"failed\",\"error\":\(JSONBuffer.quoted(error))}\n")
                            }
                        }
                        failing = true
                    case .recovered(let path):
                        failing = false
                        Terminal.write("perflog: \(Terminal.oneLine(path)) can be written again\n", to: STDERR_FILENO)
                        if json { Terminal.out("{\"path\":\(JSONBuffer.quoted(path)),\"result\":\"recovered\"}\n") }
                    }
                    reportedFirst = true
                }
            } catch {
                throw CLIFailure(error)
            }
        }

        /// Streams and retained measures in the log, for the message; `nil` when the log
        /// cannot be read (the write itself succeeded, so this is no reason to fail).
        private static func counts(_ log: EventLog) -> (streams: Int, measurements: Int)? {
            guard let info = try? log.read({ try $0.info() }) else { return nil }
            return (info.streams, info.events)
        }

        /// The line for one outcome, as text or JSON.
        static func describe(
            _ result: Projector.WriteResult, path: String, counts: (streams: Int, measurements: Int)?, json: Bool
        ) -> String {
            if json {
                var line = "{\"path\":\(JSONBuffer.quoted(path)),\"result\":\"\(result == .written ? "written" : "unchanged")\""
                if let counts { line += ",\"streams\":\(counts.streams),\"measurements\":\(counts.measurements)" }
                return line + "}\n"
            }
            let shown = Terminal.oneLine(path)
            guard result == .written else { return "\(shown) is up to date\n" }
            guard let counts else { return "wrote \(shown)\n" }
            func plural(_ n: Int, _ word: String) -> String { "\(n) \(word)\(n == 1 ? "" : "s")" }
            return "wrote \(shown) (\(plural(counts.streams, "stream")), \(plural(counts.measurements, "measurement")))\n"
        }

        /// Opens an existing log, never creating it: for writing when this process may
        /// (the checkpoint that spares re-projecting an unchanged log lives in it), else
        /// read-only, which works as well, only slower.
        /// - Throws: ``CLIFailure``: 66 when there is no log, 74 when it is not one.
        static func openExisting(_ log: LogOptions) throws(CLIFailure) -> EventLog {
            let path = try log.path()
            var options = EventLog.Options()
            options.waitLimit = log.location.waitLimit
            options.create = false
            do {
                return try EventLog(path: path, options: options)
            } catch {
                let failure = CLIFailure(error)
                guard failure.status != .noInput else { throw failure }
                return try log.openForReading()
            }
        }
    }
}

/// `--format json|seed`: parsed, completed and listed in `--help` by ArgumentParser.
extension Projector.FileFormat: ExpressibleByArgument {}
