import ArgumentParser
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The `perflog` command: records how long agent invocations take and shows them.
@main
struct Perflog: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "perflog",
        abstract: "Record how long agent invocations take, per agent and per CLI.",
        discussion: """
            perflog keeps an append-only log of invocations in an embedded database \
            (an LMDB environment: one directory, safe for many processes at once, \
            intact after crashes).

            Words:
              stream     one (agent, CLI) pair, e.g. planner/claude; names are
                         1-128 bytes of UTF-8 without control characters
              mark       "this invocation started" (perflog exec writes one)
              measure    "this invocation ended": its duration, taken on a
                         monotonic clock, and its outcome (ok, or failed with
                         an exit code or the signal that ended it)
              ring       the newest measures of a stream that the log keeps
                         (100 by default); older ones are dropped
              timeline   every retained event in commit order (what tail shows)
              in flight  a mark whose measure has not arrived yet

            Examples:
              perflog init --buckets 1s,5s,15s,1m,5m,15m,1h
              perflog exec --agent planner --cli claude -- claude -p "plan it"
              perflog record --agent planner --cli codex --duration 812.4ms
              perflog record --agent coder --cli gemini --duration 1h30m --exit-code 2
              perflog tail -n 20
              perflog tail -f --json | jq .durationMs
              perflog info
              perflog stats --agent planner --sort mean
              perflog compare --agent planner
              perflog project --watch
              perflog report --since 7d
              perflog export --format openmetrics --out perflog.prom
              perflog import events.ndjson
              perflog check
              perflog compact --retain 50
              perflog recover --out recovered
              perflog serve --http 9464 &
              perflog rename --agent Planner --to planner
              perflog forget --agent scratch --yes

            The log is .planning/metrics/perflog/ of the project: the current \
            directory, or the nearest parent that has a .planning/ directory (as \
            git finds .git), else the current directory; --log PATH or the \
            PERFLOG_LOG environment variable names another. perflog info says \
            where it was found. Commands that only read (tail, info, stats, \
            compare, export, report) never create or change it.

            --log, --wait, --json and --color, where a command takes them, go \
            before or after its name, as with git: \
            perflog --log /tmp/x tail is perflog tail --log /tmp/x. Durations are \
            written 812ms, 2.5s, 5m, 1h30m or "5 minutes" (units ns us ms s m h).

            Exit status (sysexits):
              0   success
              1   check found problems (listed); compact left problems;
                  recover lost events (listed); forget was declined at its prompt
              64  the command line cannot be parsed: unknown flag, missing or
                  extra argument, a word where a number belongs, conflicting flags,
                  an unknown command (the message suggests the nearest); forget
                  without --yes and no terminal to ask on; rename to the same name
              65  a value breaks a rule: empty, oversized, control- or
                  bidirectional-control-character names; invalid UTF-8 in an
                  argument; negative, NaN or infinite durations; unknown units;
                  malformed or repeated --meta keys; --exit-code outside 0-255;
                  a --signal that is not 1-64 or a signal's name; an agent or
                  stream the log has nothing of (compare, forget, rename)
              66  there is no log at the path (commands that only read, project,
                  forget, rename), or a file to import cannot be read
              73  the log, or the file of project or export --out, cannot be created
                  (or --out is a directory)
              74  the path is not a perflog log, or the log is damaged, from a
                  newer perflog, or the disk failed (the path is left untouched;
                  a damaged log is noted in perflog.damaged and writers refuse
                  it until `perflog check` reads it sound); standard output
                  cannot be written (141, quietly, when its reader has gone)
              75  the log is busy: another process held it for longer than
                  --wait (10s by default; the message names it), or another
                  perflog serve answers on the socket; try again
            perflog exec exits with its command's status instead: 128+N when \
            the command died of signal N, 127 when it was not found, 126 when it \
            could not be executed.

            Every error is one line on standard error: perflog: <what>: <rule>.
            """,
        version: "0.1.0",
        subcommands: [
            Init.self, Record.self, Exec.self, Tail.self, Info.self, Stats.self, Compare.self, Project.self, Export.self,
            Import.self, Report.self, Check.self, Compact.self, Recover.self, Serve.self, Forget.self, Rename.self,
        ])

    /// Runs the command and turns every failure into one line on stderr and a sysexits
    /// status, instead of ArgumentParser's multi-line usage dump: scripts read the exit
    /// status, people read one line, and `--help` is there for the rest.
    ///
    /// Plain `record` and `exec` command lines skip ArgumentParser (see ``FastPath``):
    /// they run once per measured invocation, so their start-up time counts.
    static func main() {
        if let problem = RawArguments.invalidArgument() {
            Terminal.error(problem)
            Terminal.exitProcess(ExitStatus.data.rawValue)
        }
        let arguments = GlobalOptions.reordered(Array(CommandLine.arguments.dropFirst()))
        if let request = FastPath.parse(arguments) {
            Terminal.exitProcess(run(request))
        }
        // After the fast path: the subcommands' names come from ArgumentParser through
        // the runtime's reflection, several milliseconds that a plain record must not pay.
        if let unknown = CommandSuggestion.unknownCommand(arguments, known: configuration.subcommands.map { $0._commandName }) {
            Terminal.error(unknown)
            Terminal.exitProcess(ExitStatus.usage.rawValue)
        }
        Terminal.exitProcess(parseAndRun(arguments))
    }

    /// Runs a request from the fast path, with the same outcome as the subcommand's
    /// `run()` after ArgumentParser.
    private static func run(_ request: FastPath.Request) -> Int32 {
        do throws(CLIFailure) {
            switch request {
            case .record(let record):
                try record.run()
                return ExitStatus.ok.rawValue
            case .exec(let exec):
                return try exec.run()
            }
        } catch {
            Terminal.error(error.message)
            return error.status.rawValue
        }
    }

    private static func parseAndRun(_ arguments: [String]) -> Int32 {
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
            return ExitStatus.ok.rawValue
        } catch let failure as CLIFailure {
            Terminal.error(failure.message)
            return failure.status.rawValue
        } catch let code as ExitCode {
            return code.rawValue
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                // --help, --version: ArgumentParser prints them to stdout.
                exit(withError: error)
            }
            var text = Self.oneLine(message(for: error))
            if text.isEmpty { text = "invalid command line" }
            Terminal.error(text + " (see '\(helpCommand()) --help')")
            return code == .validationFailure ? ExitStatus.usage.rawValue : code.rawValue
        }
    }

    /// ArgumentParser's message on one line: its lines joined by "; ", and a list of
    /// `- value` lines (the values an option takes) as "a, b or c".
    static func oneLine(_ message: String) -> String {
        var parts: [String] = []
        var list: [String] = []
        func flush() {
            guard !list.isEmpty else { return }
            let items = list.count > 1 ? list.dropLast().joined(separator: ", ") + " or " + list[list.count - 1] : list[0]
            if parts.isEmpty { parts.append(items) } else { parts[parts.count - 1] += " " + items }
            list = []
        }
        for raw in message.split(whereSeparator: \.isNewline) {
            let line = String(raw).trimmingSpaces
            if line.hasPrefix("- ") {
                list.append(String(line.dropFirst(2)))
                continue
            }
            flush()
            if !line.isEmpty { parts.append(line) }
        }
        flush()
        return parts.joined(separator: "; ")
    }

    /// `perflog` or `perflog <subcommand>`, whichever the command line was aimed at.
    private static func helpCommand() -> String {
        let names = configuration.subcommands.map { $0._commandName }
        for argument in CommandLine.arguments.dropFirst() {
            if argument == "--" { break }
            if names.contains(argument) { return "perflog \(argument)" }
        }
        return "perflog"
    }
}
