import ArgumentParser
import PerfLog
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `--log PATH` and `--wait DURATION`, shared by every command that touches the log.
struct LogOptions: ParsableArguments {
    @Option(
        name: .customLong(OptionName.log.rawValue),
        help: ArgumentHelp(
            "The log directory (an LMDB environment).",
            discussion: "Default: $PERFLOG_LOG when set, else .planning/metrics/perflog/ in the current directory or the nearest parent that has .planning/ (as git finds .git), else in the current directory.",
            valueName: "path"),
        completion: .directory)
    var log: String?

    // Unconditional, so that `--wait -1s` gets the rule instead of "missing value".
    @Option(
        name: .customLong(OptionName.wait.rawValue), parsing: .unconditional,
        help: ArgumentHelp(
            "The longest to wait for another process that holds the log.",
            discussion: "A duration (500ms, 30s, 2m, 1m30s; a bare number is seconds), at most 1 day. Default: 10s. Past it perflog gives up, names the process and exits 75.",
            valueName: "duration"),
        transform: { text in
            // ArgumentParser names the option already: keep only the rule.
            do throws(CLIFailure) { return try WaitOption.parse(text) } catch {
                throw ValidationError(String(error.message.trimmingPrefix("--\(OptionName.wait.rawValue): ")))
            }
        })
    var wait: Duration?

    /// The parsed values, for code that also runs without ArgumentParser.
    var location: LogLocation { LogLocation(log: log, wait: wait) }

    /// The path to use; see ``LogLocation/path()``.
    func path() throws(CLIFailure) -> String { try location.path() }

    /// Opens the log for a command that writes; see ``LogLocation/openForWriting()``.
    func openForWriting(creating: Bool = true) throws(CLIFailure) -> EventLog { try location.openForWriting(creating: creating) }

    /// Opens an existing log for a command that changes it; see
    /// ``LogLocation/openExistingForWriting()``.
    func openExistingForWriting() throws(CLIFailure) -> EventLog { try location.openExistingForWriting() }

    /// Opens the log for a command that only reads; see ``LogLocation/openForReading()``.
    func openForReading() throws(CLIFailure) -> EventLog { try location.openForReading() }

    /// Opens the log with `open`, waiting for it to appear while it does not exist
    /// (looking every `pollMilliseconds`), for the commands that follow a log.
    /// - Parameter announcingWait: whether to say once on standard error
    ///   (`perflog: waiting for the log at PATH`) that the log is not there yet, so that
    ///   someone watching a silent `tail -f` knows why.
    /// - Returns: the log and whether it had to wait; `nil` when a stop (SIGINT,
    ///   SIGTERM) was requested first.
    /// - Throws: what `open` throws, other than "no log".
    func openWhenPresent(
        pollMilliseconds: Int, announcingWait: Bool = false, _ open: () throws(CLIFailure) -> EventLog
    ) throws(CLIFailure) -> (EventLog, waited: Bool)? {
        var waited = false
        // A log that another process is creating at this very moment can look, for a
        // few milliseconds, like an LMDB environment without perflog's data; give its
        // creator about a second before calling it foreign.
        var settling = 0
        let settlingLooks = max(1, 1_000 / max(1, pollMilliseconds))
        while !StopRequest.requested {
            do {
                return (try open(), waited)
            } catch let failure where failure.status == .noInput {
                if announcingWait && !waited { Terminal.status("perflog: waiting for the log at \(try path())") }
                waited = true
            } catch let failure where failure.status == .ioError && settling < settlingLooks {
                settling += 1
            }
            Pause.pause(milliseconds: pollMilliseconds)
        }
        return nil
    }
}

/// Where the log is: the value of `--log`, if any, resolved against `PERFLOG_LOG` and
/// the default path.
struct LogLocation: Equatable {
    /// Where the log lives when neither `--log` nor `PERFLOG_LOG` says otherwise,
    /// relative to the current directory.
    static let defaultPath = ".planning/metrics/perflog"

    /// The value of `--log`; `nil` when it was not given.
    var log: String?
    /// The value of `--wait`; `nil` when it was not given (then 10 s).
    var wait: Duration?

    /// The wait to use: `--wait`, else the library's default.
    var waitLimit: Duration { wait ?? EventLog.Options().waitLimit }

    /// Where the path ``path()`` returns came from.
    enum Source: Equatable {
        /// `--log`.
        case flag
        /// `PERFLOG_LOG`.
        case environment
        /// `.planning/` in the current directory, or none anywhere up to the root (then
        /// the log is, or will be, created in the current directory).
        case currentDirectory
        /// `.planning/` in the parent directory `directory`, the nearest that has one.
        case parentDirectory(String)
    }

    /// The path to use and where it came from: `--log`, else `PERFLOG_LOG` (empty counts
    /// as unset, as for most variables), else `.planning/metrics/perflog` in the current
    /// directory or, found the way git finds `.git`, the nearest parent that has a
    /// `.planning/` directory; when none has, the current directory's. Without trailing
    /// slashes.
    /// - Throws: ``CLIFailure`` (exit 65) when `--log` is empty.
    func resolved() throws(CLIFailure) -> (path: String, source: Source) {
        let chosen: String
        let source: Source
        if let log {
            guard !log.isEmpty else { throw .invalid("log", "must not be empty") }
            chosen = log
            source = .flag
        } else if let env = getenv("PERFLOG_LOG"), env.pointee != 0 {
            chosen = String(cString: env)
            source = .environment
        } else if let parent = LogLocation.nearestProject() {
            chosen = parent + "/" + LogLocation.defaultPath
            source = .parentDirectory(parent)
        } else {
            chosen = LogLocation.defaultPath
            source = .currentDirectory
        }
        var trimmed = Substring(chosen)
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        return (String(trimmed), source)
    }

    /// The path to use (see ``resolved()``).
    /// Installs the fault guard for that path (see ``CLIFailure/guardFaults(reading:)``).
    /// - Throws: ``CLIFailure`` (exit 65) when `--log` is empty.
    func path() throws(CLIFailure) -> String {
        let (path, source) = try resolved()
        if source == .flag { CLIFailure.logArgument = " --log " + shellWord(path) }
        // From here on the process may map this log: a fault inside liblmdb on a damaged
        // file is reported as damage (exit 74), never a signal death.
        CLIFailure.guardFaults(reading: path)
        return path
    }

    /// The file `name` in the directory that holds the log directory at `logPath`: where
    /// agent-performance.json and the report go by default (for the default log,
    /// `.planning/metrics/NAME`).
    static func beside(_ logPath: String, _ name: String) -> String {
        var trimmed = Substring(logPath)
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return name }
        return String(trimmed[..<slash]) + "/" + name
    }

    /// `text` as one shell word: as it is when it holds only safe characters, else in
    /// single quotes.
    private func shellWord(_ text: String) -> String {
        let safe = text.unicodeScalars.allSatisfy { c in
            (c.value >= 0x30 && c.value <= 0x39) || (c.value >= 0x41 && c.value <= 0x5A) || (c.value >= 0x61 && c.value <= 0x7A)
                || "/._-+,:@%".unicodeScalars.contains(c)
        }
        return safe && !text.isEmpty ? text : "'" + text.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "'\\''") + "'"
    }

    /// The nearest proper parent of the current directory that has a `.planning/`
    /// directory, as an absolute path; `nil` when the current directory has one itself
    /// (its log is then the relative default) or when no directory up to the root has.
    static func nearestProject() -> String? {
        if isDirectory(".planning") { return nil }
        guard let cwd = getcwd(nil, 0) else { return nil }
        defer { free(cwd) }
        var dir = String(cString: cwd)
        while dir != "/" && !dir.isEmpty {
            guard let slash = dir.lastIndex(of: "/") else { return nil }
            dir = slash == dir.startIndex ? "/" : String(dir[..<slash])
            if isDirectory((dir == "/" ? "" : dir) + "/.planning") { return dir }
        }
        return nil
    }

    private static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// Opens the log for a command that writes, creating it when missing unless
    /// `creating` is false (maintenance commands: repairing nothing is no reason to make
    /// a log).
    /// - Throws: ``CLIFailure``: 73 when it cannot be created, 66 when it is missing and
    ///   `creating` is false, 74 when the path holds something other than a perflog log,
    ///   65 for an empty path.
    func openForWriting(creating: Bool = true) throws(CLIFailure) -> EventLog {
        let path = try path()
        var options = EventLog.Options()
        options.waitLimit = waitLimit
        options.create = creating
        do {
            return try EventLog(path: path, options: options)
        } catch {
            throw CLIFailure(error)
        }
    }

    /// Opens the log for a command that changes what is there (`forget`, `rename`):
    /// writable, never created.
    /// - Throws: ``CLIFailure``: 66 when there is no log, 74 when the path holds
    ///   something other than a perflog log, 65 for an empty path.
    func openExistingForWriting() throws(CLIFailure) -> EventLog {
        let path = try path()
        var options = EventLog.Options()
        options.create = false
        options.waitLimit = waitLimit
        do {
            return try EventLog(path: path, options: options)
        } catch {
            throw CLIFailure(error)
        }
    }

    /// Opens the log for a command that only reads: nothing is created or written.
    /// - Throws: ``CLIFailure``: 66 when there is no log, 74 when the path holds
    ///   something other than a perflog log, 65 for an empty path.
    func openForReading() throws(CLIFailure) -> EventLog {
        let path = try path()
        var options = EventLog.Options()
        options.create = false
        options.readOnly = true
        options.waitLimit = waitLimit
        do {
            return try EventLog(path: path, options: options)
        } catch {
            throw CLIFailure(error)
        }
    }
}

/// `--wait DURATION`: how long to wait for a process that holds the log.
enum WaitOption {
    /// Parses a wait: a duration as ``DurationParser`` reads it, a bare number being
    /// seconds, from 0 to ``EventLog/maxWaitLimit``.
    /// - Throws: ``CLIFailure`` naming `--wait` and the rule (the command line is then
    ///   a usage error, exit 64).
    static func parse(_ text: String) throws(CLIFailure) -> Duration {
        let field = "--" + OptionName.wait.rawValue
        let limit = (ns: UInt64(EventLog.maxWaitLimit.components.seconds) * 1_000_000_000, text: "a day, 86400s")
        do {
            return .nanoseconds(Int64(try DurationParser.nanoseconds(text, field: field, bareUnit: "s", limit: limit)))
        } catch {
            throw CLIFailure(.usage, error.message)
        }
    }
}
