import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Signal handlers may only touch lock-free state, so these are plain atomics, read and
// written with async-signal-safe operations (atomic loads/stores/exchanges and kill(2)).

/// The process that `perflog exec` runs, 0 while there is none.
private let forwardTarget = Atomic<Int32>(0)
/// A signal that arrived while no child was running yet, to be sent once it exists.
private let pendingSignal = Atomic<Int32>(0)
/// Set when `perflog tail -f` is asked to stop.
private let stopFlag = Atomic<Bool>(false)

/// Passes SIGINT, SIGTERM and SIGHUP on to the command `perflog exec` runs, so that
/// perflog itself survives them and can still record how the command ended.
///
/// Signals sent by a process (`kill`, a supervisor, a CI runner timing out) are
/// forwarded. Signals from the terminal (Ctrl-C, hangup) are not: the kernel already
/// delivers those to the whole foreground process group, command included, and a
/// second copy would turn one Ctrl-C into a double one. A signal that arrives before the
/// command has started is held and sent as soon as it has.
enum SignalForwarding {
    static let signals: [Int32] = [SIGINT, SIGTERM, SIGHUP]

    /// Installs the handlers. The command inherits default dispositions: the spawn
    /// resets every signal in the child.
    static func install() {
        // Touch the globals now: their lazy initialisation is not signal-safe.
        forwardTarget.store(0, ordering: .relaxed)
        pendingSignal.store(0, ordering: .relaxed)
        for signal in signals { installHandler(signal, forwardingHandler, restart: true) }
    }

    /// Starts forwarding to `pid`, delivering a signal that arrived before it existed.
    static func attach(_ pid: Int32) {
        forwardTarget.store(pid, ordering: .sequentiallyConsistent)
        let pending = pendingSignal.exchange(0, ordering: .sequentiallyConsistent)
        if pending != 0 { _ = kill(pid, pending) }
    }

    /// Stops forwarding: the child has been reaped and its pid may be reused.
    static func detach() {
        forwardTarget.store(0, ordering: .sequentiallyConsistent)
    }
}

private let forwardingHandler: @convention(c) (Int32, UnsafeMutablePointer<siginfo_t>?, UnsafeMutableRawPointer?) -> Void = {
    signal, info, _ in
    let target = forwardTarget.load(ordering: .sequentiallyConsistent)
    if target > 0 {
        // si_code > 0 means the kernel sent it (the terminal); <= 0 means a process did.
        if let info, info.pointee.si_code > 0 { return }
        _ = kill(target, signal)
        return
    }
    // No child yet: hold the signal. Re-check afterwards, because attach() may have run
    // between the load above and the store; whichever side exchanges it out sends it.
    pendingSignal.store(signal, ordering: .sequentiallyConsistent)
    let late = forwardTarget.load(ordering: .sequentiallyConsistent)
    if late > 0 {
        let pending = pendingSignal.exchange(0, ordering: .sequentiallyConsistent)
        if pending != 0 { _ = kill(late, pending) }
    }
}

/// Turns SIGINT and SIGTERM into a request to stop that a polling loop checks, so that
/// `perflog tail -f` ends cleanly (exit 0) between batches instead of mid-line.
enum StopRequest {
    /// Installs the handlers. They do not restart interrupted calls, so a sleep ends
    /// as soon as the signal arrives.
    static func install() {
        stopFlag.store(false, ordering: .relaxed)
        for signal in [SIGINT, SIGTERM] { installHandler(signal, stopHandler, restart: false) }
    }

    /// Whether a stop was requested.
    static var requested: Bool { stopFlag.load(ordering: .sequentiallyConsistent) }
}

private let stopHandler: @convention(c) (Int32, UnsafeMutablePointer<siginfo_t>?, UnsafeMutableRawPointer?) -> Void = {
    _, _, _ in
    stopFlag.store(true, ordering: .sequentiallyConsistent)
}

private func installHandler(
    _ signal: Int32,
    _ handler: @convention(c) (Int32, UnsafeMutablePointer<siginfo_t>?, UnsafeMutableRawPointer?) -> Void,
    restart: Bool
) {
    var action = sigaction()
    #if canImport(Glibc)
    action.__sigaction_handler.sa_sigaction = handler
    #else
    action.__sigaction_u.__sa_sigaction = handler
    #endif
    action.sa_flags = SA_SIGINFO | (restart ? SA_RESTART : 0)
    sigemptyset(&action.sa_mask)
    sigaction(signal, &action, nil)
    // The signal mask is inherited across exec, and a parent that starts perflog from a
    // thread that blocks signals (Foundation's Process on a worker thread does) would
    // leave the signal pending forever: unblock what we now handle.
    var set = sigset_t()
    sigemptyset(&set)
    sigaddset(&set, signal)
    pthread_sigmask(SIG_UNBLOCK, &set, nil)
}

/// Waits for SIGINT or SIGTERM on a thread of its own (`sigwait`), for a long-running
/// command that must stop in an orderly way rather than in a signal handler.
///
/// ``block()`` must run before any other thread starts, so that every thread inherits
/// the mask and the signals stay pending until the waiting thread takes them.
enum StopSignals {
    static let signals: [Int32] = [SIGINT, SIGTERM]

    /// Blocks the signals in this thread (and so in every thread started after).
    static func block() {
        var set = signalSet()
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    /// Starts a thread that calls `onFirst` with the first signal, and ends the process
    /// at once (status 128+N) on a second one.
    static func watch(_ onFirst: @escaping @Sendable (Int32) -> Void) {
        final class Box { let body: @Sendable (Int32) -> Void; init(_ b: @escaping @Sendable (Int32) -> Void) { body = b } }
        let box = Unmanaged.passRetained(Box(onFirst)).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { raw in
            guard let raw else { return nil }
            let box = Unmanaged<Box>.fromOpaque(raw).takeRetainedValue()
            var set = StopSignals.signalSet()
            var signal: Int32 = 0
            sigwait(&set, &signal)
            box.body(signal)
            sigwait(&set, &signal)
            _exit(128 + signal)
        }, box)
        if rc == 0 { pthread_detach(thread) }
    }

    static func signalSet() -> sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        for s in signals { sigaddset(&set, s) }
        return set
    }
}
