import CLMDB
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An error returned by an LMDB call: the C return code, the function that returned it,
/// and optionally what it was working on (a path, a database name).
public struct LMDBError: Error, Hashable, Sendable, CustomStringConvertible {
    /// An LMDB or POSIX return code, as returned by the C library.
    ///
    /// LMDB reports its own conditions with negative codes (`MDB_NOTFOUND` …) and system
    /// failures with `errno` values (`ENOSPC`, `EACCES` …); both are represented here.
    /// perflog carries every `errno` in this type, LMDB's or not, so that each prints
    /// the same way (`strerror`'s text).
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        /// The C value.
        public let rawValue: Int32
        /// Wraps a C return code.
        public init(rawValue: Int32) { self.rawValue = rawValue }

        /// `MDB_KEYEXIST`: the key/data pair already exists.
        public static let keyExists = Code(rawValue: MDB_KEYEXIST)
        /// `MDB_NOTFOUND`: no matching key/data pair.
        public static let notFound = Code(rawValue: MDB_NOTFOUND)
        /// `MDB_CORRUPTED`: a page has an unexpected type; the file is damaged.
        public static let corrupted = Code(rawValue: MDB_CORRUPTED)
        /// `MDB_PAGE_NOTFOUND`: a page the file refers to is not there; the file is damaged.
        public static let pageNotFound = Code(rawValue: MDB_PAGE_NOTFOUND)
        /// `MDB_PANIC`: a fatal error; the environment must be closed.
        public static let panic = Code(rawValue: MDB_PANIC)
        /// `MDB_VERSION_MISMATCH`: the file was written by an incompatible LMDB.
        public static let versionMismatch = Code(rawValue: MDB_VERSION_MISMATCH)
        /// `MDB_INVALID`: the file is not an LMDB data file.
        public static let invalid = Code(rawValue: MDB_INVALID)
        /// `MDB_MAP_FULL`: the environment's map size was reached.
        public static let mapFull = Code(rawValue: MDB_MAP_FULL)
        /// `MDB_DBS_FULL`: the maximum number of named databases was reached.
        public static let databasesFull = Code(rawValue: MDB_DBS_FULL)
        /// `MDB_READERS_FULL`: the reader lock table is full.
        public static let readersFull = Code(rawValue: MDB_READERS_FULL)
        /// `MDB_TXN_FULL`: the transaction has too many dirty pages.
        public static let transactionFull = Code(rawValue: MDB_TXN_FULL)
        /// `MDB_MAP_RESIZED`: another process grew the map beyond this process's size.
        public static let mapResized = Code(rawValue: MDB_MAP_RESIZED)
        /// `MDB_INCOMPATIBLE`: the operation does not fit the database's flags.
        public static let incompatible = Code(rawValue: MDB_INCOMPATIBLE)
        /// `MDB_BAD_TXN`: the transaction must be aborted after an earlier error.
        public static let badTransaction = Code(rawValue: MDB_BAD_TXN)
        /// `MDB_BAD_VALSIZE`: a key or value has an unsupported size.
        public static let badValueSize = Code(rawValue: MDB_BAD_VALSIZE)
        /// `ENOSPC`: no space left on the device.
        public static let noSpace = Code(rawValue: ENOSPC)
        /// `EACCES`: permission denied.
        public static let permissionDenied = Code(rawValue: EACCES)
        /// `EROFS`: read-only file system.
        public static let readOnlyFileSystem = Code(rawValue: EROFS)
        /// `ENOENT`: no such file or directory.
        public static let noEntry = Code(rawValue: ENOENT)
        /// `ENOTDIR`: a path component is not a directory.
        public static let notDirectory = Code(rawValue: ENOTDIR)
        /// `EAGAIN`: the resource is temporarily unavailable (e.g. a lock is held).
        public static let wouldBlock = Code(rawValue: EAGAIN)
        /// `EINVAL`: an invalid argument (LMDB also uses it for a damaged file header).
        public static let invalidArgument = Code(rawValue: EINVAL)
        /// `EBUSY`: the resource is in use.
        public static let busy = Code(rawValue: EBUSY)
        /// `EIO`: an input/output error (LMDB reports a short write of a commit so).
        public static let ioError = Code(rawValue: EIO)
        /// `EISDIR`: the path is a directory.
        public static let isDirectory = Code(rawValue: EISDIR)
        /// `EDQUOT`: the user's disk quota is exhausted.
        public static let quotaExceeded = Code(rawValue: EDQUOT)

        /// The calling thread's `errno` now: read it right after the call that failed.
        public static var current: Code { Code(rawValue: errno) }

        /// The text `mdb_strerror` gives for this code (it covers `errno` values too).
        public var description: String { String(cString: mdb_strerror(rawValue)) }
    }

    /// The return code.
    public let code: Code
    /// The C function that returned the code, e.g. `mdb_put`.
    public let operation: String
    /// What the operation worked on, when known (a path, a database name).
    public let context: String?

    /// Creates an error for `code` returned by `operation`.
    public init(_ code: Code, operation: String, context: String? = nil) {
        self.code = code
        self.operation = operation
        self.context = context
    }

    /// `"<operation>(<context>): <message>"`.
    public var description: String {
        if let context { return "\(operation)(\(context)): \(code)" }
        return "\(operation): \(code)"
    }
}

/// Turns a C return code into a thrown `LMDBError`; every C call in this module goes
/// through here so that each error names the function that produced it.
@inline(__always)
func check(_ rc: Int32, _ operation: StaticString, _ context: @autoclosure () -> String? = nil) throws(LMDBError) {
    if rc != 0 {
        throw LMDBError(LMDBError.Code(rawValue: rc), operation: "\(operation)", context: context())
    }
}
