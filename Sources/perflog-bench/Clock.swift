#if canImport(Glibc)
import Glibc
#endif

/// Monotonic nanoseconds.
func monotonicNs() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// Sleeps `ns` nanoseconds (a signal may end it early).
func sleepNs(_ ns: UInt64) {
    var span = timespec(tv_sec: Int(ns / 1_000_000_000), tv_nsec: Int(ns % 1_000_000_000))
    nanosleep(&span, nil)
}

/// Bytes this process has passed to write system calls so far (`wchar` in
/// /proc/self/io): LMDB writes each dirty page of a commit with one, so the growth over
/// a run divided by the page size is the pages the run's commits wrote.
func bytesWritten() -> UInt64 {
    let fd = open("/proc/self/io", O_RDONLY)
    guard fd >= 0 else { return 0 }
    defer { close(fd) }
    var buffer = [UInt8](repeating: 0, count: 1024)
    let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
    guard n > 0 else { return 0 }
    for line in String(decoding: buffer[..<n], as: UTF8.self).split(separator: "\n") where line.hasPrefix("wchar:") {
        return UInt64(line.dropFirst(6).trimmingPrefix(while: { $0 == " " })) ?? 0
    }
    return 0
}

func fileSize(_ path: String) -> Int {
    var st = stat()
    return stat(path, &st) == 0 ? Int(st.st_size) : 0
}

func makeDirectory(_ path: String) throws {
    guard mkdir(path, 0o777) == 0 else { throw BenchError("cannot create \(path)") }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
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

