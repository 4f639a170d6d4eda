import LMDB
import PerfLog
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// perflog's exit statuses, from sysexits(3), so that scripts can tell a typo from a
/// broken disk without parsing messages.
enum ExitStatus: Int32 {
    /// Everything worked.
    case ok = 0
    /// `check` (or `compact`, or `recover`) found problems, listed (not a sysexits code).
    case problems = 1
    /// The command line cannot be parsed: an unknown flag, a missing or extra
    /// argument, a word where a number is needed, flags that conflict (`EX_USAGE`).
    case usage = 64
    /// The command line parses but a value breaks a rule: a name that is empty, too
    /// long or holds a control character, a negative / NaN / infinite duration, an
    /// unknown unit, malformed metadata (`EX_DATAERR`).
    case data = 65
    /// A reading command found no log at the path (`EX_NOINPUT`).
    case noInput = 66
    /// The log could not be created (`EX_CANTCREAT`).
    case cannotCreate = 73
    /// Reading or writing failed: the path is not a perflog log, the log is damaged or
    /// from a newer perflog, the disk is full (`EX_IOERR`).
    case ioError = 74
    /// The log is busy; trying again later may work (`EX_TEMPFAIL`).
    case temporary = 75
}

/// A failure that ends the command: the exit status and a one-line message for stderr.
struct CLIFailure: Error {
    /// How the process exits.
    var status: ExitStatus
    /// One line, without the `perflog: ` prefix.
    var message: String
    /// The library's error this failure reports, when it reports one.
    var cause: PerfLogError?

    init(_ status: ExitStatus, _ message: String) {
        self.status = status
        self.message = message
    }

    /// A value that breaks a rule (exit 65), naming the field.
    static func invalid(_ field: String, _ rule: String) -> CLIFailure {
        CLIFailure(.data, "\(field): \(rule)")
    }

    /// Maps a library error to its exit status; the message is the error's own
    /// one-line description with the command or flag that helps (``advice(for:)``).
    init(_ error: PerfLogError) {
        let status: ExitStatus
        switch error {
        case .invalidInput, .invalidLine: status = .data
        case .noLog: status = .noInput
        case .cannotCreate, .notOurs: status = .cannotCreate
        case .notALog, .newerSchema, .corrupt, .damaged, .knownDamaged: status = .ioError
        case .busy: status = .temporary
        case .cannotWrite(_, _, let code): status = [.noSpace, .ioError, .quotaExceeded].contains(code) ? .ioError : .cannotCreate
        case .storage: status = error.isTemporary ? .temporary : .ioError
        }
        self.init(status, CLIFailure.message(error))
        cause = error
    }

    /// Whether the path holds something that is not a log perflog can read (another
    /// program's files, a log of a newer perflog), as opposed to a damaged log.
    var isForeign: Bool {
        switch cause {
        case .notALog?, .newerSchema?: return true
        default: return false
        }
    }

    /// `error`'s description followed by what to run about it: the library names no
    /// command or flag, perflog's messages do. The service's replies use these words
    /// too (``IngestService/Configuration/describe``).
    static func message(_ error: PerfLogError) -> String {
        error.description + advice(for: error)
    }

    /// The command (or flag) that helps with `error`, in the words that follow its
    /// description; empty when there is none.
    static func advice(for error: PerfLogError) -> String {
        let named = logArgument
        let recover = "`perflog recover\(named) --out DIR` to copy every readable event into a new log"
        switch error {
        case .noLog: return " (record an event first, or pass --log PATH)"
        case .notOurs(let path):
            return ": keep its history with `perflog import \(path)` first, or pass --force to replace it"
        case .corrupt: return "; run `perflog check\(named)`"
        case .damaged: return "; run `perflog check\(named)` to see what, and \(recover)"
        case .knownDamaged: return "; run `perflog check\(named)` (which clears this when the file reads sound), or \(recover)"
        case .storage where error.isDamagedOrForeign: return " — run `perflog check\(named)`"
        default: return ""
        }
    }

    /// ` --log PATH` when the command line named its log with `--log`, so that the
    /// commands perflog suggests work on the same log; empty otherwise (the default log
    /// and `PERFLOG_LOG` are found again without it).
    ///
    /// Set while the command line's log is resolved (``LogLocation/path()``), before any
    /// message can quote it, on the main thread of a process that handles one command:
    /// nothing reads it concurrently with the write.
    nonisolated(unsafe) static var logArgument = ""

    /// Maps any error thrown while working on the log.
    static func from(_ error: any Error) -> CLIFailure {
        switch error {
        case let failure as CLIFailure: return failure
        case let error as PerfLogError: return CLIFailure(error)
        default: return CLIFailure(.ioError, "\(error)")
        }
    }
}

extension CLIFailure {
    /// Makes a fault while the log at `path` is mapped (SIGSEGV or SIGBUS inside liblmdb
    /// on a damaged file, or one of LMDB's assertions) end the process the way any other
    /// damage does: one line on stderr in ``PerfLogError/damaged(path:what:)``'s words,
    /// the damage marker recorded (see ``DamageMarker``), exit 74. No core dump.
    static func guardFaults(reading path: String) {
        let line = "perflog: " + CLIFailure.message(.damaged(path: Terminal.oneLine(path), what: "\u{0}")) + "\n"
        guard let split = line.firstIndex(of: "\u{0}") else { return }
        // Without the guard a fault is still a fault; there is nothing better to do
        // than carry on when sigaction itself fails.
        try? FaultGuard.install(
            message: String(line[..<split]), suffix: String(line[line.index(after: split)...]),
            dataFile: path + "/data.mdb", marker: DamageMarker.path(in: path), exitStatus: ExitStatus.ioError.rawValue)
    }
}

extension CLIFailure {
    /// Walks the pages of the log at `path` (see ``EventLog/checkPages(at:)``) before a
    /// command writes it wholesale; damage found is recorded (see ``DamageMarker``).
    /// - Throws: ``CLIFailure`` (74) naming the damage.
    @discardableResult
    static func refuseDamagedPages(at path: String) throws(CLIFailure) -> PageWalk? {
        do throws(PerfLogError) {
            return try EventLog.checkPages(at: path)
        } catch {
            guard case .corrupt(let what) = error else { throw CLIFailure(error) }
            DamageMarker.record(at: path, found: what)
            throw CLIFailure(PerfLogError.damaged(path: path, what: what))
        }
    }
}
