import ArgumentParser
import LMDB
import PerfLog
import Synchronization
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
                perflog starts the command with this terminal's standard input, output and \
                error, commits a mark (the invocation is in flight) while it runs (a command \
                that has ended before the log is open gets none), times it on a monotonic \
                clock, and commits a measure with the same invocation id: ok \
                when the command exits 0, failed with its exit code otherwise, or failed \
                with the signal (and no exit code) when a signal ended it.

                perflog then exits with the command's own status, so it can stand in front \
                of any command in a script: 128+N when the command died of signal N, 127 \
                when it was not found, 126 when it could not be executed (those are \
                recorded as failed too). SIGINT, SIGTERM and SIGHUP sent to perflog are \
                passed on to the command; Ctrl-C and hangups from the terminal already \
                reach it directly. The command does not outlive perflog: if perflog is \
                killed (even with SIGKILL), the command is killed too (on Linux).

                Recording never gets in the way of the command: the command starts at once \
                whatever the log's state, and if the log cannot be written (or another \
                process holds it for longer than --wait, 10s by default), perflog says on \
                standard error what was not recorded and still exits with the command's \
                status, at most --wait after the command ended. Only invalid values (names, \
                --meta; exit 65) or an unparsable command line (exit 64) stop it from \
                running.

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
    ///
    /// The command starts first, whatever the log's state: the mark is committed by a
    /// thread of its own while the command runs (waiting at most `--wait` for a process
    /// that holds the log), and the measure once it has ended (at most `--wait` after
    /// that). So a stopped or slow writer elsewhere delays nothing but perflog's own
    /// exit, by at most `--wait`.
    /// - Throws: ``CLIFailure`` (exit 65) for a value that breaks a rule; the command
    ///   does not run. A log that cannot be written is only a warning.
    func run() throws(CLIFailure) -> Int32 {
        let name = try stream.stream()
        let meta = try stream.metadata()
        _ = try log.path()
        let invocation = InvocationID.random()
        let pid = getpid()

        // Before anything else, so that a signal that comes from here on is held for
        // the command (or passed to it) instead of killing perflog.
        SignalForwarding.install()

        let recording = RunRecording(log: log, stream: name, invocation: invocation, pid: pid, meta: meta)
        let startWall = EventClock.wallNs()
        let start = EventClock.monotonicNs()
        // The log is opened while the command starts: neither waits for the other.
        recording.markInBackground(wallTimeNs: startWall, deadlineNs: start &+ recording.waitNs)
        let ended: Spawn.Termination
        switch Launcher.start(command) {
        case .success(let child): ended = Launcher.wait(child)
        case .failure(let problem):
            Terminal.error("\(command[0]): \(problem.message)")
            ended = .exited(problem.status)
        }
        let end = EventClock.monotonicNs()
        recording.commandEnded()
        recording.measure(durationNs: end &- start, ended: ended, deadlineNs: end &+ recording.waitNs)
        return ended.shellStatus
    }
}

/// Writes the mark and the measure of one `perflog exec` invocation, turning every
/// failure into one warning at the end: the command's status matters more than its
/// record. The mark is written on a thread of its own, so that the command need not
/// wait for the log; a command that has already ended when the log is open gets no
/// mark (nothing was in flight that anyone could see), only its measure, which saves a
/// commit on short commands.
private final class RunRecording: Sendable {
    let location: LogLocation
    let stream: StreamName
    let invocation: InvocationID
    let pid: Int32
    let meta: Metadata
    /// `--wait` in nanoseconds.
    let waitNs: UInt64
    private let thread = WriterThread()
    /// What the mark's thread left: the open log (nil when it could not be opened) and
    /// why the start was not recorded, if it was not.
    private let marked = Mutex<(log: EventLog?, failure: String?)>((nil, nil))
    /// Whether the command has ended, and whether the mark's commit began before it did.
    private let progress = Mutex<(ended: Bool, marking: Bool)>((false, false))

    init(log: LogLocation, stream: StreamName, invocation: InvocationID, pid: Int32, meta: Metadata) {
        location = log
        self.stream = stream
        self.invocation = invocation
        self.pid = pid
        self.meta = meta
        let (seconds, attoseconds) = log.waitLimit.components
        waitNs = UInt64(max(0, seconds)) * 1_000_000_000 + UInt64(max(0, attoseconds / 1_000_000_000))
    }

    /// Opens the log and commits the mark, on a thread, waiting for the log's write
    /// lock until `deadlineNs`.
    func markInBackground(wallTimeNs: Int64, deadlineNs: UInt64) {
        let mark = Event.mark(stream, invocation: invocation, wallTimeNs: wallTimeNs, pid: pid, meta: meta)
        thread.start { [self] in
            let eventLog: EventLog
            do throws(CLIFailure) {
                eventLog = try location.openForWriting()
            } catch {
                marked.withLock { $0.failure = error.message }
                return
            }
            let needed = progress.withLock { state in
                state.marking = !state.ended
                return state.marking
            }
            guard needed else {
                marked.withLock { $0 = (eventLog, nil) }
                return
            }
            var failure: String?
            let remaining = deadlineNs &- min(deadlineNs, EventClock.monotonicNs())
            do throws(PerfLogError) { try eventLog.append([mark], waitingUpTo: .nanoseconds(Int64(clamping: remaining))) } catch {
                failure = CLIFailure(error).message
            }
            marked.withLock { $0 = (eventLog, failure) }
        }
    }

    /// The command has ended: a mark not yet begun is not needed any more.
    func commandEnded() {
        progress.withLock { $0.ended = true }
    }

    /// Records the end once the mark is settled: ok for exit status 0, failed with the
    /// exit status or the signal otherwise, waiting for the log until `deadlineNs`.
    /// Warns once about whatever was not recorded.
    func measure(durationNs: UInt64, ended: Spawn.Termination, deadlineNs: UInt64) {
        thread.join()
        let (eventLog, markFailure) = marked.withLock { $0 }
        guard let eventLog else {
            Terminal.warning("this run was not recorded: \(markFailure ?? "the log could not be opened")")
            return
        }
        var exitCode: Int32?, signal: Int32?
        switch ended {
        case .exited(let code): exitCode = code
        // A signal as a signal: 128+N would read as an exit status the command never had.
        case .signaled(let number): signal = number
        }
        let event = Event.measure(
            stream, invocation: invocation, durationNs: durationNs, outcome: ended == .exited(0) ? .ok : .failed,
            exitCode: exitCode, signal: signal, wallTimeNs: EventClock.wallNs(), pid: pid, meta: meta)
        var measureFailure: String?
        let remaining = deadlineNs &- min(deadlineNs, EventClock.monotonicNs())
        do { try eventLog.append([event], waitingUpTo: .nanoseconds(Int64(clamping: remaining))) } catch {
            measureFailure = CLIFailure(error).message
        }
        let marking = progress.withLock { $0.marking }
        switch (markFailure, measureFailure) {
        case (nil, nil): break
        case (let why?, nil): Terminal.warning("the start of this run was not recorded (its end was): \(why)")
        case (nil, let why?) where !marking: Terminal.warning("this run was not recorded: \(why)")
        case (nil, let why?): Terminal.warning("the end of this run was not recorded (its start stays in flight): \(why)")
        // The start's reason: it had the whole wait, the end only what was left of it.
        case (let why?, _?): Terminal.warning("this run was not recorded: \(why)")
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
            let code = LMDBError.Code.current
            return .failure(code == .noEntry || code == .notDirectory ? .notFound() : .notExecutable("\(code)"))
        }
        if (st.st_mode & S_IFMT) == S_IFDIR { return .failure(.notExecutable("is a directory")) }
        if (st.st_mode & S_IFMT) != S_IFREG || access(path, X_OK) != 0 {
            return .failure(.notExecutable("permission denied"))
        }
        return .success(())
    }

    /// Starts the command (resolved through `PATH` like a shell), sharing this
    /// process's standard streams, and passes signals sent to perflog on to it.
    /// - Returns: its pid, or why it could not start, with the shell's status for that.
    static func start(_ arguments: [String]) -> Result<pid_t, Problem> {
        switch resolve(arguments[0]) {
        case .failure(let problem): return .failure(problem)
        case .success(let path):
            switch Spawn.start(path: path, arguments: arguments) {
            case .success(let pid):
                SignalForwarding.attach(pid)
                return .success(pid)
            case .failure(let error):
                return .failure(error.code == .noEntry ? .notFound() : .notExecutable("\(error.code)"))
            }
        }
    }

    /// Waits for the command started by ``start(_:)`` and returns how it ended.
    static func wait(_ pid: pid_t) -> Spawn.Termination {
        Spawn.wait(pid, beforeReaping: SignalForwarding.detach)
    }
}
