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

