#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The clocks events are stamped with.
public enum EventClock {
    /// Nanoseconds of a monotonic clock (`CLOCK_MONOTONIC`): for durations only.
    @inline(__always)
    public static func monotonicNs() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    /// Wall-clock nanoseconds since the Unix epoch, UTC (`CLOCK_REALTIME`).
    @inline(__always)
    public static func wallNs() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) &* 1_000_000_000 &+ Int64(ts.tv_nsec)
    }
}
