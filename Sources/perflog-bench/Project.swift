import ArgumentParser
import PerfLog
#if canImport(Glibc)
import Glibc
#endif

struct ProjectCase: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "project",
        abstract: "Milliseconds to project a full log to agent-performance.json (and to find it unchanged).")

    @Option(help: "Streams (agent × CLI pairs).") var streams = 10_000
    @Option(help: "Measures appended per stream.") var perStream = 100
    @Option(help: "Ring size.") var retain = 100
    @OptionGroup var common: CommonOptions

    func run() throws {
        let dir = makeTemporaryDirectory("project")
        defer { removeTree(dir) }
        let (log, appended) = try SyntheticLog.make(at: dir + "/log", streams: streams, perStream: perStream, retain: retain)

        let out = dir + "/agent-performance.json"
        var times: [Double] = []
        var verified = true
        for _ in 0..<common.repeat {
            // Removing the file makes the checkpoint stale: each repetition projects and writes.
            unlink(out)
            let t0 = monotonicNs()
            let result = try Projector.write(log: log, to: out)
            times.append(Double(monotonicNs() - t0) / 1e6)
            verified = verified && result == .written
        }
        let t1 = monotonicNs()
        let again = try Projector.write(log: log, to: out)
        let unchangedMs = Double(monotonicNs() - t1) / 1e6

        let bytes = readFile(out)
        let expectedMeasures = streams * min(perStream, retain)
        let counts = JSONCheck.topLevelArrayCounts(bytes, keys: ["streams", "measurements"])
        verified = verified && again == .unchanged && counts?["streams"] == streams
            && counts?["measurements"] == expectedMeasures

        var r = Report()
        r.add("case", "project")
        r.add("events", appended)
        r.add("streams", streams)
        r.add("measurements", expectedMeasures)
        r.add("file_bytes", bytes.count)
        r.add("median_ms", median(times))
        r.add("unchanged_ms", unchangedMs)
        r.add("verified", verified)
        print(r.line)
    }

    private func readFile(_ path: String) -> [UInt8] {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            out.append(contentsOf: chunk[..<n])
        }
        return out
    }
}

/// A strict JSON syntax check (RFC 8259, by the library's parser) that also counts the
/// elements of chosen arrays of the top-level object, reading them one at a time: a
/// 100 MB projection is never held as one value.
enum JSONCheck {
    /// The element counts of the top-level arrays named `keys`; `nil` when `bytes` is not
    /// one valid JSON object.
    static func topLevelArrayCounts(_ bytes: [UInt8], keys: Set<String>) -> [String: Int]? {
        bytes.withUnsafeBufferPointer { b -> [String: Int]? in
            var counts: [String: Int] = [:]
            var parser = JSONParser(b, from: 0, to: b.count)
            do throws(JSONSyntaxError) {
                try parser.members { (p, key) throws(JSONSyntaxError) in
                    guard keys.contains(key) else { _ = try p.value(); return }
                    var n = 0
                    try p.elements { (p) throws(JSONSyntaxError) in
                        _ = try p.value()
                        n += 1
                    }
                    counts[key] = n
                }
                try parser.finish()
                return counts
            } catch {
                return nil
            }
        }
    }
}
