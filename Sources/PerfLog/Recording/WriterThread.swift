import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The recorder's writer: one POSIX thread (also `perflog exec`'s recording thread).
package final class WriterThread: @unchecked Sendable {
    // Why @unchecked Sendable is safe: `thread` is written once by `start` before any
    // other thread can see it, and read by `join` under `joinLock`.
    private var thread: pthread_t?
    private let joinLock = Monitor<Bool>(false)

    /// A thread not started yet.
    package init() {}

    /// Starts the thread running `body`.
    package func start(_ body: @escaping @Sendable () -> Void) {
        final class Box { let body: @Sendable () -> Void; init(_ b: @escaping @Sendable () -> Void) { body = b } }
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        var t = pthread_t()
        let rc = pthread_create(&t, nil, { raw in
            guard let raw else { return nil }
            let box = Unmanaged<Box>.fromOpaque(raw).takeRetainedValue()
            box.body()
            return nil
        }, box)
        precondition(rc == 0, "perflog: cannot start the recorder's writer thread (\(rc))")
        thread = t
    }

    /// Waits for the thread to end; later calls return at once.
    package func join() {
        let t: pthread_t? = joinLock.withLock { joined in
            if joined { return nil }
            joined = true
            return thread
        }
        if let t { pthread_join(t, nil) }
    }
}
