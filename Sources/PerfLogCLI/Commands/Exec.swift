import ArgumentParser
import PerfLog
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension Perflog {
    /// `perflog exec`: runs a command and records how long it took.
    struct Exec: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a command and record how long it took (a mark, then a measure).",
            discussion: """
                perflog commits a mark (the invocation is in flight), runs the command with \
                this terminal's standard input, output and error, times it on a monotonic \
                clock, and commits a measure with the same invocation id: ok when the \
                command exits 0, failed with its exit code otherwise.

                perflog then exits with the command's own status, so it can stand in front \
                of any command in a script: 128+N when the command died of signal N, 127 \
                when it was not found, 126 when it could not be executed (those are \
                recorded as failed too). SIGINT, SIGTERM and SIGHUP sent to perflog are \
                passed on to the command; Ctrl-C and hangups from the terminal already \
                reach it directly.

                Recording never gets in the way of the command: if the log cannot be \
                written, perflog warns on standard error and runs the command anyway. \
                Only invalid values (names, --meta; exit 65) or an unparsable command line \
                (exit 64) stop it from running.

                Examples:
                  perflog exec --agent planner --cli claude -- claude -p "plan the release"
                  perflog exec --agent tests --cli swift --meta suite=unit -- swift test
                """)

        @OptionGroup var stream: StreamOptions

        @OptionGroup var log: LogOptions

        @Argument(
            parsing: .postTerminator,
            help: ArgumentHelp("The command to run and its arguments, after --.", valueName: "command"))
        var command: [String] = []

        func validate() throws {
            if let problem = request.missingCommand { throw ValidationError(problem) }
        }

        /// The parsed values.
        var request: ExecRequest { ExecRequest(stream: stream.values, log: log.location, command: command) }

        func run() throws {
            let status = try request.run()
            if status != 0 { throw ExitCode(status) }
        }
    }
}

/// What `perflog exec` was asked to do, whichever parser read the command line.
struct ExecRequest: Equatable {
    var stream: StreamArguments
    var log = LogLocation()
    /// The command and its arguments, as typed after `--`.
    var command: [String]

    /// Why there is nothing to run, or `nil` when there is. A usage error (exit 64).
    var missingCommand: String? {
        command.isEmpty
            ? "missing the command to run: put it after --, e.g. perflog exec --agent a --cli c -- make test"
            : nil
    }

    /// Validates the values, runs the command between a mark and a measure, and
    /// returns the command's status (128+N after signal N, 127 not found, 126 not
    /// executable).
    /// - Throws: ``CLIFailure`` (exit 65) for a value that breaks a rule; the command
    ///   does not run. A log that cannot be written is only a warning.
    func run() throws(CLIFailure) -> Int32 {
        let name = try stream.stream()
        let meta = try stream.metadata()
        _ = try log.path()
        let invocation = InvocationID.random()
        let pid = getpid()

        // Install before the mark so that a signal that comes while it is being
        // committed is held for the command instead of killing perflog.
        SignalForwarding.install()

        let recorder = Recorder(log: log, stream: name, invocation: invocation, pid: pid, meta: meta)
        recorder.mark()

        let status: Int32
        let start = EventClock.monotonicNs()
        switch Launcher.resolve(command[0]) {
        case .failure(let problem):
            Terminal.error("\(command[0]): \(problem.message)")
            status = problem.status
        case .success(let path):
            status = Launcher.run(path: path, arguments: command)
        }
        let elapsed = EventClock.monotonicNs() &- start
        recorder.measure(durationNs: elapsed, status: status)
        return status
    }
}

/// Writes the mark and the measure of one `perflog exec` invocation, turning every
/// failure into a warning: the command's status matters more than its record.
private struct Recorder {
    let eventLog: EventLog?
    let stream: StreamName
    let invocation: InvocationID
    let pid: Int32
    let meta: Metadata

    init(log: LogLocation, stream: StreamName, invocation: InvocationID, pid: Int32, meta: Metadata) {
        self.stream = stream
        self.invocation = invocation
        self.pid = pid
        self.meta = meta
        do {
            eventLog = try log.openForWriting()
        } catch {
            Terminal.warning("not recording this run: \(error.message)")
            eventLog = nil
        }
    }

    func mark() {
        append(Event.mark(stream, invocation: invocation, wallTimeNs: EventClock.wallNs(), pid: pid, meta: meta),
               what: "the start")
    }

    /// Records the end: ok for status 0, failed with the status as exit code otherwise.
    func measure(durationNs: UInt64, status: Int32) {
        let event = Event.measure(
            stream, invocation: invocation, durationNs: durationNs, outcome: status == 0 ? .ok : .failed,
            exitCode: status, wallTimeNs: EventClock.wallNs(), pid: pid, meta: meta)
        append(event, what: "the end")
    }

    private func append(_ event: Event, what: String) {
        guard let eventLog else { return }
        do {
            try eventLog.append([event])
        } catch {
            Terminal.warning("could not record \(what) of this run: \(CLIFailure(error).message)")
        }
    }
}

/// Finds and runs the command the way a shell would.
private enum Launcher {
    /// Why a command could not be started, with the shell's status for it.
    struct Problem: Error {
        var status: Int32
        var message: String

        static func notFound() -> Problem { Problem(status: 127, message: "command not found") }
        static func notExecutable(_ reason: String) -> Problem { Problem(status: 126, message: reason) }
    }

    /// The path to execute: `name` itself when it holds a slash, else the first
    /// executable regular file called `name` in `PATH` (an empty entry means the current
    /// directory). Like a shell, a match that exists but cannot be executed is reported
    /// as 126 when nothing executable is found, a miss as 127.
    static func resolve(_ name: String) -> Result<String, Problem> {
        guard !name.isEmpty else { return .failure(.notFound()) }
        if name.contains("/") {
            // A path is not searched for, so "not found" means the file is missing.
            return check(name)
                .map { _ in name }
                .mapError { $0.status == 127 ? Problem(status: 127, message: "no such file or directory") : $0 }
        }
        let pathVariable = getenv("PATH").map { String(cString: $0) } ?? "/usr/local/bin:/usr/bin:/bin"
        var firstProblem: Problem?
        for directory in pathVariable.split(separator: ":", omittingEmptySubsequences: false) {
            let candidate = directory.isEmpty ? name : "\(directory)/\(name)"
            switch check(candidate) {
            case .success: return .success(candidate)
            case .failure(let problem):
                if problem.status == 126 && firstProblem == nil { firstProblem = problem }
            }
        }
        return .failure(firstProblem ?? .notFound())
    }

    /// Whether `path` is a regular file this process may execute.
    private static func check(_ path: String) -> Result<Void, Problem> {
        var st = stat()
        guard stat(path, &st) == 0 else {
            return .failure(errno == ENOENT || errno == ENOTDIR ? .notFound() : .notExecutable(errorText(errno)))
        }
        if (st.st_mode & S_IFMT) == S_IFDIR { return .failure(.notExecutable("is a directory")) }
        if (st.st_mode & S_IFMT) != S_IFREG || access(path, X_OK) != 0 {
            return .failure(.notExecutable("permission denied"))
        }
        return .success(())
    }

    private static func errorText(_ code: Int32) -> String {
        guard let text = strerror(code) else { return "error \(code)" }
        return String(cString: text)
    }

    /// Runs `path` with `arguments` (the first is the name the command sees as
    /// `argv[0]`), sharing this process's standard streams, and returns its status in
    /// the shell's convention: the exit code, or 128+N after signal N. Signals sent to
    /// perflog reach the command while it runs.
    static func run(path: String, arguments: [String]) -> Int32 {
        switch Spawn.start(path: path, arguments: arguments) {
        case .success(let pid):
            SignalForwarding.attach(pid)
            return Spawn.wait(pid, beforeReaping: SignalForwarding.detach)
        case .failure(let error):
            let problem: Problem = error.code == ENOENT ? .notFound() : .notExecutable(errorText(error.code))
            Terminal.error("\(arguments[0]): \(problem.message)")
            return problem.status
        }
    }
}
