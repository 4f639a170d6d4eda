import LMDB
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension Duration {
    /// `2 s`, `250 ms`, `1.5 s`: for messages.
    var shortText: String {
        let (seconds, attoseconds) = components
        let ms = seconds * 1000 + (attoseconds + 500_000_000_000_000) / 1_000_000_000_000_000
        if ms % 1000 == 0 { return "\(ms / 1000) s" }
        if ms < 1000 { return "\(ms) ms" }
        return "\(Double(ms) / 1000) s"
    }
}
