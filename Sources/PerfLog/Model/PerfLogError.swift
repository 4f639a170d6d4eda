import LMDB
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What went wrong in the event log, with enough context for a one-line message.
public enum PerfLogError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A value breaks a rule: `field` names it, `rule` says what is required.
    case invalidInput(field: String, rule: String)
    /// There is no log at `path` (and the operation does not create one).
    case noLog(path: String)
    /// `path` exists but is not a perflog log (a regular file, a foreign directory, a
    /// file that is not LMDB); it was not modified.
    case notALog(path: String, reason: String)
    /// The log at `path` was written by a newer perflog (`found` > `supported`).
    case newerSchema(path: String, found: UInt32, supported: UInt32)
    /// The log could not be created at `path`.
    case cannotCreate(path: String, reason: String)
    /// A stored value did not decode: the file is damaged.
    case corrupt(what: String)
    /// Reading the log at `path` found its file damaged (`what`); it was left untouched
    /// and later writers refuse it (see ``DamageMarker``).
    case damaged(path: String, what: String)
    /// The log at `path` was found damaged earlier (`found`: when and what), so it is not
    /// written to.
    case knownDamaged(path: String, found: String)
    /// The log is busy: other processes kept it in use; trying again later may work.
    case busy(path: String, reason: String)
    /// LMDB failed; `operation` says what perflog was doing.
    case storage(LMDBError, operation: String)

    /// Whether trying again later may succeed: the log is busy (its reader table is
    /// full, or a lock is held), not broken.
    public var isTemporary: Bool {
        if case .busy = self { return true }
        guard case .storage(let error, _) = self else { return false }
        return error.code == .readersFull || error.code == .wouldBlock || error.code == LMDBError.Code(rawValue: EBUSY)
    }

    /// One line, naming the field, path or operation and the reason.
    public var description: String {
        switch self {
        case .invalidInput(let field, let rule): return "\(field): \(rule)"
        case .noLog(let path): return "no log at \(path) (record an event first, or pass --log PATH)"
        case .notALog(let path, let reason): return "\(path) is not a perflog log: \(reason); it was left untouched"
        case .newerSchema(let path, let found, let supported):
            return "\(path) was written by a newer perflog (schema \(found), this one reads up to \(supported)); upgrade perflog"
        case .cannotCreate(let path, let reason): return "cannot create a log at \(path): \(reason)"
        case .busy(let path, let reason): return "\(path) is busy: \(reason); try again"
        case .corrupt(let what): return "the log is damaged: \(what); run `perflog check`"
        case .damaged(let path, let what):
            return "the log at \(path) is damaged: \(what); it was left untouched; run `perflog check` to see what, "
                + "and `perflog recover --out DIR` to copy every readable event into a new log"
        case .knownDamaged(let path, let found):
            return "the log at \(path) was found damaged (\(found)); it is not written to; run `perflog check` "
                + "(which clears this when the file reads sound), or `perflog recover --out DIR` to copy every readable event into a new log"
        case .storage(let error, let operation):
            switch error.code {
            case .noSpace: return "\(operation) failed: no space left on the device (every earlier event is kept)"
            case .permissionDenied, .readOnlyFileSystem:
                return "\(operation) failed: \(error.code) (\(error.context ?? "the log")) — is the log directory writable?"
            case .corrupted, .invalid, .panic, .versionMismatch:
                return "\(operation) failed: \(error.code); the file is damaged or foreign — run `perflog check`"
            default: return "\(operation) failed: \(error)"
            }
        }
    }
}
