import LMDB

/// What went wrong in the event log, with enough context for a one-line message.
///
/// Every public entry point of the library throws this type alone: an LMDB failure
/// arrives as ``storage(_:operation:)``, and so does an error thrown by a closure the
/// caller passed in (e.g. the body of ``EventLog/read(_:)``), with code `MDB_INVALID` and
/// the error's text as the context.
public enum PerfLogError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A value breaks a rule: `field` names it, `rule` says what is required.
    case invalidInput(field: String, rule: String)
    /// A line of NDJSON input breaks a rule: `line` is its number (from 1), `field` the
    /// field at fault (`nil` when the line as a whole is: not JSON, too long), `rule`
    /// what is required. Described as `line N: field: rule`.
    case invalidLine(line: Int, field: String?, rule: String)
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
    /// A file outside the log (`agent-performance.json`) could not be written:
    /// `operation` says which step failed, `code` is the `errno` (e.g. `ENOSPC`,
    /// `EACCES`, `ENOENT` for a missing directory). The previous file, if any, is
    /// untouched.
    case cannotWrite(path: String, operation: String, code: LMDBError.Code)
    /// LMDB failed; `operation` says what perflog was doing.
    case storage(LMDBError, operation: String)
    /// A file perflog would replace was not written by perflog (the old tracker's flat
    /// array, another program's file); it was left untouched.
    case notOurs(path: String)

    /// Whether trying again later may succeed: the log is busy (its reader table is
    /// full, or a lock is held), not broken.
    public var isTemporary: Bool {
        if case .busy = self { return true }
        guard case .storage(let error, _) = self else { return false }
        return error.code == .readersFull || error.code == .wouldBlock || error.code == .busy
    }

    /// Whether LMDB's code says the file is damaged or not an LMDB file at all.
    package var isDamagedOrForeign: Bool {
        guard case .storage(let error, _) = self else { return false }
        return [.corrupted, .invalid, .panic, .versionMismatch].contains(error.code)
    }

    /// One line, naming the field, path or operation and the reason.
    public var description: String {
        switch self {
        case .invalidInput(let field, let rule): return "\(field): \(rule)"
        case .invalidLine(let line, let field, let rule): return "line \(line)" + (field.map { ": \($0)" } ?? "") + ": \(rule)"
        case .noLog(let path): return "no log at \(path)"
        case .notALog(let path, let reason): return "\(path) is not a perflog log: \(reason); it was left untouched"
        case .newerSchema(let path, let found, let supported):
            return "\(path) was written by a newer perflog (schema \(found), this one reads up to \(supported)); upgrade perflog"
        case .cannotCreate(let path, let reason): return "cannot create a log at \(path): \(reason)"
        case .busy(let path, let reason): return "\(path) is busy: \(reason); try again"
        case .corrupt(let what): return "the log is damaged: \(what)"
        case .damaged(let path, let what): return "the log at \(path) is damaged: \(what); it was left untouched"
        case .knownDamaged(let path, let found): return "the log at \(path) was found damaged (\(found)); it is not written to"
        case .cannotWrite(let path, let operation, let code): return "cannot write \(path): \(operation) failed: \(code)"
        case .notOurs(let path): return "\(path) was not written by perflog (the old tracker's file?); it was left untouched"
        case .storage(let error, let operation):
            switch error.code {
            case .noSpace: return "\(operation) failed: no space left on the device (every earlier event is kept)"
            case .permissionDenied, .readOnlyFileSystem:
                return "\(operation) failed: \(error.code) (\(error.context ?? "the log")) — is the log directory writable?"
            case _ where isDamagedOrForeign: return "\(operation) failed: \(error.code); the file is damaged or foreign"
            default: return "\(operation) failed: \(error)"
            }
        }
    }
}

extension PerfLogError {
    /// `error`, thrown while the library was `operation` (e.g. `reading the log`), as a
    /// PerfLogError: a PerfLogError unchanged, an `LMDBError` as
    /// ``storage(_:operation:)``, anything else (thrown by a caller's closure) as
    /// `storage` with `MDB_INVALID` and the error's text as the context.
    static func from(_ error: any Error, operation: String) -> PerfLogError {
        switch error {
        case let error as PerfLogError: return error
        case let error as LMDBError: return .storage(error, operation: operation)
        default: return .storage(LMDBError(.invalid, operation: operation, context: "\(error)"), operation: operation)
        }
    }

    /// Runs `body`, turning whatever it throws into a PerfLogError (see
    /// ``from(_:operation:)``).
    static func wrapping<R>(operation: String, _ body: () throws -> R) throws(PerfLogError) -> R {
        do { return try body() } catch { throw from(error, operation: operation) }
    }
}
