import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Invocation ids for many threads without a lock: SplitMix64 advances its state by a
/// constant and mixes it, so an atomic add gives every caller its own state.
final class InvocationIDs: Sendable {
    private let state: Atomic<UInt64>

    init(seed: UInt64) { state = Atomic(seed) }

    func next() -> InvocationID {
        InvocationID(rawValue: SplitMix64.mix(state.wrappingAdd(SplitMix64.increment, ordering: .relaxed).newValue))
    }
}
