import PerfLog
import LMDB
#if os(Linux)
import CSpawn
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Starts and waits for the command that `perflog exec` runs: on Linux with vfork and
/// execve in C (`perflog_spawn`), elsewhere with `posix_spawn(3)`.
///
/// This replaces swift-subprocess for one measured reason: its `run` is async, and the
/// concurrency runtime that needs (an async `main`, dispatch worker threads) was a large
/// part of what `perflog exec` adds to every command; without them the overhead fell
/// from 6.0 to 4.4 ms. It keeps what that spawn did, and adds one thing:
///
/// - on Linux the command cannot outlive perflog, even a perflog killed with SIGKILL:
///   the child asks for SIGKILL when the thread that started it ends
///   (`PR_SET_PDEATHSIG`), and does not run at all when perflog ended before it asked.
///   So start it from a thread that lives until the command has been waited for (the
///   main thread). posix_spawn runs no code in the child, hence the C shim;
/// - the executable is the path given (already resolved through `PATH`, so this is
///   `posix_spawn`, not `posix_spawnp`), and `argv[0]` is the name as typed;
/// - the command shares this process's standard input, output and error and its
///   environment; other descriptors are not passed on (on Linux they are marked
///   close-on-exec in the child, so that one another thread opens meanwhile is not
///   passed on either);
/// - every signal disposition is reset to the default and the signal mask is emptied
///   in the child, so perflog's own handlers (and a mask or ignored signal that perflog
///   inherited) do not leak into the command.
enum Spawn {
    /// Starts `path` with `arguments`, whose first element becomes the command's
    /// `argv[0]`.
    /// - Returns: the child's pid, or the `errno` of the failure: `ENOENT` when the file
    ///   is missing, `EACCES`, `ENOEXEC` and so on when it cannot be executed. glibc and
    ///   Darwin report a failed `execve` here rather than through a child that exits 127.
    ///
    /// `standardOutput` and `standardError`, when given, replace the child's standard
    /// output and error (`perflog recover` reads its readers through a pipe).
    static func start(
        path: String, arguments: [String], standardOutput: Int32? = nil, standardError: Int32? = nil
    ) -> Result<pid_t, SpawnError> {
        // An ignored SIGCHLD, inherited from whoever started perflog, would let the
        // kernel reap the child on its own and leave nothing for wait(_:) to read.
        signal(SIGCHLD, SIG_DFL)
        #if os(Linux)
        return withArgv(arguments) { argv in
            var pid: pid_t = 0
            let rc = perflog_spawn(path, argv, environ, standardOutput ?? -1, standardError ?? -1, &pid)
            return rc == 0 ? .success(pid) : .failure(SpawnError(rc))
        }
        #else
        #if canImport(Darwin)
        // Opaque pointers on Darwin, structures on glibc.
        var attributes: posix_spawnattr_t?
        var actions: posix_spawn_file_actions_t?
        let environment = _NSGetEnviron().pointee
        #else
        var attributes = posix_spawnattr_t()
        var actions = posix_spawn_file_actions_t()
        let environment = environ
        #endif
        // These return the error number rather than setting errno.
        var rc = posix_spawnattr_init(&attributes)
        guard rc == 0 else { return .failure(SpawnError(rc)) }
        defer { posix_spawnattr_destroy(&attributes) }
        var everySignal = sigset_t(), noSignal = sigset_t()
        sigfillset(&everySignal)
        sigemptyset(&noSignal)
        posix_spawnattr_setsigdefault(&attributes, &everySignal)
        posix_spawnattr_setsigmask(&attributes, &noSignal)
        var flags = Int32(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK)

        rc = posix_spawn_file_actions_init(&actions)
        guard rc == 0 else { return .failure(SpawnError(rc)) }
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let standardOutput { posix_spawn_file_actions_adddup2(&actions, standardOutput, STDOUT_FILENO) }
        if let standardError { posix_spawn_file_actions_adddup2(&actions, standardError, STDERR_FILENO) }
        #if canImport(Darwin)
        // Close everything on exec except what is explicitly inherited.
        flags |= Int32(POSIX_SPAWN_CLOEXEC_DEFAULT)
        for fd in [STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO] { posix_spawn_file_actions_addinherit_np(&actions, fd) }
        #endif
        posix_spawnattr_setflags(&attributes, Int16(truncatingIfNeeded: flags))

        return withArgv(arguments) { argv in
            var pid: pid_t = 0
            rc = posix_spawn(&pid, path, &actions, &attributes, argv, environment)
            return rc == 0 ? .success(pid) : .failure(SpawnError(rc))
        }
        #endif
    }

    /// Calls `body` with `arguments` as a NULL-terminated C array, byte for byte as
    /// perflog was given them (invalid UTF-8 included), freed when `body` returns.
    private static func withArgv<R>(_ arguments: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
        // Raw memory rather than an array of optional pointers, whose metadata the
        // runtime would build at first use, in every `perflog exec`.
        let argv = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: arguments.count + 1)
        var filled = 0
        RawArguments.forEachTrailing(arguments) { bytes in
            let copy = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count + 1)
            for (i, b) in bytes.enumerated() { copy[i] = CChar(bitPattern: b) }
            copy[bytes.count] = 0
            argv[filled] = copy
            filled += 1
        }
        argv[filled] = nil
        defer {
            for i in 0..<filled { argv[i]?.deallocate() }
            argv.deallocate()
        }
        return body(argv)
    }

    /// How a waited-for child ended.
    enum Termination: Equatable {
        /// It exited with this status (0 to 255).
        case exited(Int32)
        /// Signal N ended it.
        case signaled(Int32)

        /// The status in the shell's convention: the exit status, or 128+N after
        /// signal N.
        var shellStatus: Int32 {
            switch self {
            case .exited(let code): code
            case .signaled(let signal): 128 + signal
            }
        }
    }

    /// Waits for `pid` to end and returns how it ended.
    ///
    /// `beforeReaping` runs once the child has ended but while it is still a zombie, so
    /// its pid cannot yet belong to another process: the place to stop sending it
    /// signals.
    static func wait(_ pid: pid_t, beforeReaping: () -> Void) -> Termination {
        var info = siginfo_t()
        // WNOWAIT leaves the child unreaped; on failure, waitpid below still waits.
        _ = POSIXIO.retryingInterrupts { waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) }
        beforeReaping()
        var status: Int32 = 0
        // Only a child reaped elsewhere fails here, which start(path:arguments:) rules
        // out; report a plain failure rather than invent a status.
        guard POSIXIO.retryingInterrupts({ waitpid(pid, &status, 0) }) >= 0 else { return .exited(1) }
        // The <sys/wait.h> macros are not imported: the low 7 bits are the signal that
        // ended the process (0 for a normal exit), the next byte is the exit code.
        let signal = status & 0x7F
        return signal == 0 ? .exited((status >> 8) & 0xFF) : .signaled(signal)
    }
}

/// An `errno` value from starting a command.
struct SpawnError: Error {
    var code: LMDBError.Code

    init(_ code: Int32) { self.code = LMDBError.Code(rawValue: code) }
}
