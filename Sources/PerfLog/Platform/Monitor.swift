#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// State guarded by a `pthread_mutex_t`, with condition variables to wait on it: what
/// the recorder's producers and its writer thread share.
final class Monitor<State>: @unchecked Sendable {
    // Why @unchecked Sendable is safe: `state` is only reached through `withLock` and
    // `wait`, which hold `mutex`; the pthread objects live in their own allocations.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var state: State

    /// A condition variable bound to this monitor's mutex.
    final class Condition: @unchecked Sendable {
        // Why @unchecked Sendable is safe: a pthread condition is itself thread-safe.
        let cond: UnsafeMutablePointer<pthread_cond_t>

        init() {
            cond = .allocate(capacity: 1)
            cond.initialize(to: pthread_cond_t())
            var attr = pthread_condattr_t()
            pthread_condattr_init(&attr)
            // Timed waits measure the monotonic clock (the deadlines ``wait(on:deadlineNs:until:)``
            // is given), immune to wall-clock changes. Not available on Darwin, whose
            // condition variables measure the wall clock: no fallback that would
            // silently mix the two clocks.
            pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)
            pthread_cond_init(cond, &attr)
            pthread_condattr_destroy(&attr)
        }

        deinit {
            pthread_cond_destroy(cond)
            cond.deallocate()
        }

        /// Wakes one waiter.
        func signal() { pthread_cond_signal(cond) }
        /// Wakes every waiter.
        func broadcast() { pthread_cond_broadcast(cond) }
    }

    init(_ state: State) {
        self.state = state
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` with the state, holding the lock.
    @inline(__always)
    func withLock<R>(_ body: (inout State) throws -> R) rethrows -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&state)
    }

    /// Waits on `condition` until `done` holds (checked under the lock), or until the
    /// monotonic clock passes `deadlineNs` when given. Returns what `done` last said.
    @discardableResult
    func wait(on condition: Condition, deadlineNs: UInt64? = nil, until done: (inout State) -> Bool) -> Bool {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while !done(&state) {
            if let deadlineNs {
                if EventClock.monotonicNs() >= deadlineNs { return false }
                var ts = timespec(tv_sec: Int(deadlineNs / 1_000_000_000), tv_nsec: Int(deadlineNs % 1_000_000_000))
                pthread_cond_timedwait(condition.cond, mutex, &ts)
            } else {
                pthread_cond_wait(condition.cond, mutex)
            }
        }
        return true
    }
}
