#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The calling thread's signal mask, changed for a while and put back.
struct SignalMask {
    private var previous = sigset_t()
    private var changed = false

    /// Blocks SIGPIPE in the calling thread (and in the threads it starts until
    /// ``restore()``): a write to a pipe whose reader has gone then fails with `EPIPE`
    /// instead of ending the process.
    static func blockingPipe() -> SignalMask {
        var mask = SignalMask()
        var pipe = sigset_t()
        sigemptyset(&pipe)
        sigaddset(&pipe, SIGPIPE)
        mask.changed = pthread_sigmask(SIG_BLOCK, &pipe, &mask.previous) == 0
        return mask
    }

    /// Discards a SIGPIPE that became pending on this thread meanwhile (unless it was
    /// blocked before) and restores the mask.
    func restore() {
        guard changed else { return }
        var pipe = sigset_t()
        sigemptyset(&pipe)
        sigaddset(&pipe, SIGPIPE)
        var previous = self.previous
        if sigismember(&previous, SIGPIPE) == 0 {
            var pending = sigset_t()
            if sigpending(&pending) == 0, sigismember(&pending, SIGPIPE) == 1 {
                var none = timespec(tv_sec: 0, tv_nsec: 0)
                _ = sigtimedwait(&pipe, nil, &none)
            }
        }
        _ = pthread_sigmask(SIG_SETMASK, &previous, nil)
    }
}
