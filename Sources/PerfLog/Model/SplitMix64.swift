/// SplitMix64: a small, fast, seedable generator (Steele, Lea and Flood, 2014).
///
/// The recorder draws invocation ids from one seeded once from the system, so that
/// recording makes no system call; tools and tests seed it to make runs repeatable.
/// Not for secrets.
package struct SplitMix64: RandomNumberGenerator, Sendable {
    /// The current state; each call to ``next()`` advances it.
    package var state: UInt64

    /// A generator that starts from `seed`.
    package init(seed: UInt64) { state = seed }

    /// What each call adds to the state: 2⁶⁴ divided by the golden ratio, odd, so that
    /// the states visit every value before repeating.
    package static let increment: UInt64 = 0x9E37_79B9_7F4A_7C15

    /// The next 64 random bits.
    package mutating func next() -> UInt64 {
        state &+= SplitMix64.increment
        return SplitMix64.mix(state)
    }

    /// SplitMix64's output function (Stafford's "Mix13" variant of the MurmurHash3
    /// finalizer): a bijection of 64 bits in which every input bit affects every output
    /// bit; the generator's output for state `z`.
    @inline(__always)
    package static func mix(_ z: UInt64) -> UInt64 {
        var z = z
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
