import ArgumentParser
import PerfLog

extension Perflog {
    /// `perflog import`: adds events from NDJSON files or the old tracker's array.
    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add events from files: perflog's NDJSON or the old tracker's JSON array.",
            discussion: """
                Each FILE is perflog's NDJSON (what export --format ndjson and tail --json \
                write; seq is ignored, the log assigns its own) or the old tracker's flat \
                array [{agent, cli, duration, timestamp, success}]; the format is told \
                from the first character. - reads standard input.

                Importing is idempotent: an event the log already holds is skipped, so \
                importing a file twice adds nothing the second time. A stream keeps only \
                its newest measures: a measure older than everything a full ring holds is \
                skipped as outside the window rather than evicting a newer one. For each \
                file perflog prints
                  FILE: read N, added A, already present P, outside the window W
                (and, with --skip-invalid, the number of invalid records it skipped). \
                --json prints one object a line instead: file, read, added, \
                alreadyPresent, outsideWindow, invalid.

                Each file is one commit: all of its events or none. A record that breaks \
                a rule (malformed JSON, a missing or unknown key, a negative duration) \
                stops the import with perflog: FILE: line N: <field>: <rule> and exit 65; \
                nothing of that file is committed, the files before it stay committed, \
                and the files after it are not read. --skip-invalid skips such records \
                instead, counts them and warns about the first few.

                Every named file is checked to be readable before anything is imported; \
                one that is not exits 66. The log is created when missing (once the \
                first file has parsed).

                Examples:
                  perflog import events.ndjson
                  perflog export --format ndjson --log old | perflog import - --log new
                  perflog import .planning/metrics/agent-performance-seed.json --skip-invalid
                """)

        @Argument(help: ArgumentHelp("Files to import; - for standard input.", valueName: "file"), completion: .file())
        var files: [String]

        @Flag(help: "Skip (and count) records that break a rule instead of stopping.")
        var skipInvalid = false

        @Flag(help: "Print one JSON object a file instead of a line of text.")
        var json = false

        @OptionGroup var log: LogOptions

        /// How many skipped records are shown, per file, with --skip-invalid.
        static let shownProblems = 3

        func validate() throws {
            if files.isEmpty { throw ValidationError("missing the file to import (- for standard input)") }
            if files.filter({ $0 == "-" }).count > 1 { throw ValidationError("- (standard input) can be read only once") }
        }

        func run() throws {
            // Before the first commit, so that a typo in the last name does not leave the
            // first files imported and the rest not.
            for file in files where file != "-" {
                if let reason = FilePath.unreadable(file) { throw CLIFailure(.noInput, "\(file): cannot read: \(reason)") }
            }
            // Opened at the first commit: input that fails to parse creates no log.
            var eventLog: EventLog?
            for file in files {
                let name = file == "-" ? "stdin" : file
                let bytes: [UInt8]
                switch FilePath.readAll(file) {
                case .success(let read): bytes = read
                case .failure(let failure): throw CLIFailure(.noInput, "\(name): cannot read: \(failure.reason)")
                }
                let parsed: ImportedEvents
                do {
                    parsed = try ImportedEvents(parsing: bytes, skipInvalid: skipInvalid)
                } catch {
                    throw CLIFailure(CLIFailure(error).status, "\(name): \(error.description)")
                }
                var counts: ImportCounts
                let target = try eventLog ?? log.openForWriting()
                eventLog = target
                do {
                    counts = try target.importEvents(parsed.events)
                } catch {
                    let failure = CLIFailure.from(error)
                    throw CLIFailure(failure.status, "\(name): \(failure.message)")
                }
                counts.invalid = parsed.invalid
                for problem in parsed.problems.prefix(Self.shownProblems) {
                    Terminal.warning("\(name): skipped \(problem.description)")
                }
                if parsed.invalid > Self.shownProblems {
                    Terminal.warning("\(name): skipped \(parsed.invalid - Self.shownProblems) more invalid records")
                }
                Terminal.out(json ? Self.jsonLine(file: file, counts) : line(name: name, counts))
            }
        }

        /// `FILE: read N, added A, already present P, outside the window W[, invalid I]`.
        func line(name: String, _ c: ImportCounts) -> String {
            var text = "\(Terminal.oneLine(name)): read \(c.read), added \(c.added), already present \(c.alreadyPresent), "
                + "outside the window \(c.outsideWindow)"
            if skipInvalid { text += ", invalid \(c.invalid)" }
            return text + "\n"
        }

        /// The counts as one compact JSON object and a newline.
        static func jsonLine(file: String, _ c: ImportCounts) -> String {
            "{\"file\":\(JSONText.quoted(file)),\"read\":\(c.read),\"added\":\(c.added),"
                + "\"alreadyPresent\":\(c.alreadyPresent),\"outsideWindow\":\(c.outsideWindow),\"invalid\":\(c.invalid)}\n"
        }
    }
}
