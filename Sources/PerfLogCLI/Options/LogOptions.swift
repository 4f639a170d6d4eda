import ArgumentParser
import PerfLog
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `--log PATH`, shared by every command that touches the log.
struct LogOptions: ParsableArguments {
    @Option(
        name: .customLong(OptionName.log.rawValue),
        help: ArgumentHelp(
            "The log directory (an LMDB environment).",
            discussion: "Default: $PERFLOG_LOG when set, else .planning/metrics/perflog/ under the current directory.",
            valueName: "path"),
        completion: .directory)
    var log: String?

    /// The parsed value, for code that also runs without ArgumentParser.
    var location: LogLocation { LogLocation(log: log) }

    /// The path to use; see ``LogLocation/path()``.
    func path() throws(CLIFailure) -> String { try location.path() }

    /// Opens the log for a command that writes; see ``LogLocation/openForWriting()``.
    func openForWriting() throws(CLIFailure) -> EventLog { try location.openForWriting() }

    /// Opens the log for a command that only reads; see ``LogLocation/openForReading()``.
    func openForReading() throws(CLIFailure) -> EventLog { try location.openForReading() }
}

/// Where the log is: the value of `--log`, if any, resolved against `PERFLOG_LOG` and
/// the default path.
struct LogLocation: Equatable {
    /// Where the log lives when neither `--log` nor `PERFLOG_LOG` says otherwise,
    /// relative to the current directory.
    static let defaultPath = ".planning/metrics/perflog"

    /// The value of `--log`; `nil` when it was not given.
    var log: String?

    /// The path to use: `--log`, else `PERFLOG_LOG`, else the default, without trailing
    /// slashes.
    /// Installs the fault guard for that path (see ``CLIFailure/guardFaults(reading:)``).
    /// - Throws: ``CLIFailure`` (exit 65) when `--log` or `PERFLOG_LOG` is empty.
    func path() throws(CLIFailure) -> String {
        let chosen: String
        if let log {
            guard !log.isEmpty else { throw .invalid("log", "must not be empty") }
            chosen = log
        } else if let env = getenv("PERFLOG_LOG") {
            let value = String(cString: env)
            guard !value.isEmpty else { throw .invalid("PERFLOG_LOG", "must not be empty when set") }
            chosen = value
        } else {
            chosen = LogLocation.defaultPath
        }
        var trimmed = Substring(chosen)
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        // From here on the process may map this log: a fault inside liblmdb on a damaged
        // file is reported as damage (exit 74), never a signal death.
        CLIFailure.guardFaults(reading: String(trimmed))
        return String(trimmed)
    }

    /// Opens the log for a command that writes, creating it when missing.
    /// - Throws: ``CLIFailure``: 73 when it cannot be created, 74 when the path holds
    ///   something other than a perflog log, 65 for an empty path.
    func openForWriting() throws(CLIFailure) -> EventLog {
        let path = try path()
        do {
            return try EventLog(path: path)
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
        do {
            return try EventLog(path: path, options: options)
        } catch {
            throw CLIFailure(error)
        }
    }
}
