#if canImport(Glibc)
import Glibc
#endif

/// Monotonic nanoseconds.
func monotonicNs() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    if s.isEmpty { return .nan }
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

func makeTemporaryDirectory(_ tag: String) -> String {
    var template = Array("/tmp/perflog-bench-\(tag)-XXXXXX".utf8CString)
    return template.withUnsafeMutableBufferPointer { buf in
        guard let base = buf.baseAddress, let p = mkdtemp(base) else { fatalError("mkdtemp failed") }
        return String(cString: p)
    }
}

func removeTree(_ path: String) {
    // The bench owns these directories; a shell keeps this short and obvious.
    _ = system("rm -rf '\(path)'")
}

/// A fast seeded generator, so that runs are comparable and generating input costs no
/// system calls.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
