import CFaultGuard

/// Turns a fault while an environment's pages are read into a reported failure instead
/// of a signal death.
///
/// A damaged data file can make liblmdb follow a pointer outside the map (SIGSEGV),
/// touch a page past the end of a truncated file (SIGBUS), or fail one of its own
/// assertions (which calls `abort()`). Once ``install(message:suffix:dataFile:marker:exitStatus:)``
/// has run, any of these writes `message`, a few words naming the fault and `suffix`
/// to standard error, writes the marker file, and ends the process with `exitStatus`.
///
/// The marker file holds `key=value` lines: `device` and `inode` of `dataFile` (when it
/// can be stat'ed), `time` (seconds since the epoch) and `found` (what happened).
///
/// Nothing is installed unless a program asks: a library must not take over the
/// signal handlers of the process that links it. Every ``Environment`` sets LMDB's
/// assertion callback, which does nothing until the guard is installed.
public enum FaultGuard {
    /// Installs the handlers for SIGSEGV and SIGBUS (on an alternate stack for the
    /// calling thread) and arms the assertion callback. Calling it again replaces the
    /// texts and paths.
    /// - Parameters:
    ///   - message: the start of the line written to standard error.
    ///   - suffix: the end of that line, its line feed included.
    ///   - dataFile: the file whose identity the marker records.
    ///   - marker: the marker file to write.
    ///   - exitStatus: the status the process exits with.
    /// - Throws: `LMDBError` with the `errno` of `sigaltstack` or `sigaction`.
    public static func install(
        message: String, suffix: String, dataFile: String, marker: String, exitStatus: Int32
    ) throws(LMDBError) {
        let rc = perflog_fault_guard_install(message, suffix, dataFile, marker, exitStatus)
        if rc != 0 { throw LMDBError(LMDBError.Code(rawValue: rc), operation: "sigaction", context: "fault guard") }
    }

    /// Whether ``install(message:suffix:dataFile:marker:exitStatus:)`` has run.
    public static var isInstalled: Bool { perflog_fault_guard_installed() != 0 }

    /// Sets LMDB's assertion callback of an environment being opened.
    static func attach(_ env: OpaquePointer) { perflog_fault_guard_attach(env) }
}
