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
        var z = state.wrappingAdd(0x9E37_79B9_7F4A_7C15, ordering: .relaxed).newValue
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return InvocationID(rawValue: z ^ (z >> 31))
    }
}
