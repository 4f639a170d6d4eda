import ArgumentParser
import PerfLog
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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

                Each file is read twice, in bounded memory whatever its size: a first \
                pass checks every record and finds the events the log's rings can keep \
                (each stream's newest measures, the marks and their measures), a second \
                commits only those, \(EventLog.importEventsPerCommit) at a time; the \
                others are counted outside the window. A record that breaks a rule \
                (malformed JSON, a missing or unknown key, a negative duration) stops the \
                import in the first pass with perflog: FILE: line N: <field>: <rule> and \
                exit 65; nothing of that file is committed, the files before it stay \
                committed, and the files after it are not read. --skip-invalid skips such \
                records instead, counts them and warns about the first few. An import \
                interrupted in the second pass (killed, a full disk) leaves the chunks \
                it committed; importing the file again completes it, since the events \
                already present are skipped. Standard input is copied during the first \
                pass to a temporary file in $TMPDIR (or /tmp), private and removed at \
                once, which the second pass reads.

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
            let hooks = TestHooks()
            // Opened at the first commit: input that fails to parse creates no log.
            var eventLog: EventLog?
            for file in files {
                let name = file == "-" ? "stdin" : file
                let fd = file == "-" ? STDIN_FILENO : open(file, O_RDONLY | O_CLOEXEC)
                guard fd >= 0 else { throw CLIFailure(.noInput, "\(name): cannot read: \(FilePath.reason(errno))") }
                defer { if fd != STDIN_FILENO { _ = close(fd) } }
                let counts = try importFile(fd, name: name, into: &eventLog, hooks: hooks)
                Terminal.out(json ? Self.jsonLine(file: file, counts) : line(name: name, counts))
            }
        }

        /// Checks then commits the input of `fd`, opening the log at the first commit.
        private func importFile(_ fd: Int32, name: String, into eventLog: inout EventLog?, hooks: TestHooks) throws -> ImportCounts {
            func failure(_ error: PerfLogError) -> CLIFailure {
                let failure = CLIFailure(error)
                return CLIFailure(failure.status, "\(name): \(failure.message)")
            }
            var st = stat()
            let regular = fstat(fd, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG
            let source: ImportFile
            do {
                // A pipe (or a FIFO, a device) cannot be read twice: spool it.
                source = try ImportFile(fileDescriptor: fd, spoolDirectory: regular ? nil : Self.spoolDirectory)
            } catch {
                throw failure(error)
            }
            defer { source.close() }
            let reader = ImportReader(source)
            let shown = Terminal.oneLine(name)
            let check: ImportCheck
            do {
                check = try ImportedEvents.check(reader, skipInvalid: skipInvalid, retain: ringSize(of: eventLog)) { progress in
                    if case .checking(let records, let bytes) = progress {
                        ProgressLine.show("\(shown): checked \(records) records (\(HumanFormat.bytes(bytes)))…")
                    }
                }
            } catch {
                ProgressLine.show(nil)
                throw failure(error)
            }
            ProgressLine.show(nil)
            let target = try eventLog ?? log.openForWriting()
            eventLog = target
            var commits = 0
            var counts: ImportCounts
            do {
                counts = try target.importCommitting(reader, check: check, skipInvalid: skipInvalid,
                                                     eventsPerCommit: hooks.eventsPerCommit ?? EventLog.importEventsPerCommit) { progress in
                    guard case .committed(let events, let total) = progress else { return }
                    commits += 1
                    ProgressLine.show(events < total ? "\(shown): committed \(events) of \(total) events…" : nil)
                    hooks.afterCommit(commits, "\(shown): committed \(events) of \(total) events")
                }
            } catch {
                ProgressLine.show(nil)
                throw failure(error)
            }
            counts.invalid = check.invalid
            for problem in check.problems.prefix(Self.shownProblems) {
                Terminal.warning("\(name): skipped \(problem.description)")
            }
            if check.invalid > Self.shownProblems {
                Terminal.warning("\(name): skipped \(check.invalid - Self.shownProblems) more invalid records")
            }
            return counts
        }

        /// The ring size of the log the input goes to, for the first pass to find what can
        /// change it: the open log's, else the existing log's (opened to read, then
        /// closed), else the size a new log gets. A log that cannot be read now fails
        /// later, when it is opened to be written.
        private func ringSize(of eventLog: EventLog?) -> Int {
            if let eventLog { return eventLog.retain }
            // Released (and so closed) at the end of the statement, before the log is
            // opened to be written.
            return (try? log.openForReading())?.retain ?? EventLog.defaultRetain
        }

        /// Where standard input is spooled: `$TMPDIR`, else `/tmp`.
        static var spoolDirectory: String {
            if let dir = getenv("TMPDIR").map({ String(cString: $0) }), !dir.isEmpty { return dir }
            return "/tmp"
        }

        /// Knobs for the tests of an interrupted import, read from the environment:
        /// `PERFLOG_TEST_IMPORT_EVENTS_PER_COMMIT` makes the chunks small, and
        /// `PERFLOG_TEST_IMPORT_STOP_AFTER_COMMITS=N` makes the import report the N-th
        /// commit on standard error and stop itself (SIGSTOP), so that a test can kill
        /// it at a known point rather than at a moment a timer guesses.
        struct TestHooks {
            var eventsPerCommit: Int?
            var stopAfterCommits: Int?

            init() {
                func number(_ name: String) -> Int? { getenv(name).flatMap { Int(String(cString: $0)) } }
                eventsPerCommit = number("PERFLOG_TEST_IMPORT_EVENTS_PER_COMMIT")
                stopAfterCommits = number("PERFLOG_TEST_IMPORT_STOP_AFTER_COMMITS")
            }

            func afterCommit(_ commits: Int, _ report: String) {
                guard commits == stopAfterCommits else { return }
                Terminal.write(report + "\n", to: STDERR_FILENO)
                raise(SIGSTOP)
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
            "{\"file\":\(JSONBuffer.quoted(file)),\"read\":\(c.read),\"added\":\(c.added),"
                + "\"alreadyPresent\":\(c.alreadyPresent),\"outsideWindow\":\(c.outsideWindow),\"invalid\":\(c.invalid)}\n"
        }
    }
}
