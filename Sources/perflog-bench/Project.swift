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
        var options = EventLog.Options()
        options.retain = retain
        options.durability = .fast
        let log = try EventLog(path: dir + "/log", options: options)
        let names = try (0..<streams).map { try StreamName(agent: "agent-\($0 / 10)", cli: "cli-\($0 % 10)") }

        // Round-robin over the streams, as concurrent agents would interleave, in batches
        // of 100k events per commit.
        var rng = SplitMix64(seed: 7)
        let start: Int64 = 1_768_855_824_000_000_000
        var batch: [Event] = []
        batch.reserveCapacity(100_000)
        var appended = 0
        for _ in 0..<perStream {
            for (i, name) in names.enumerated() {
                let failed = rng.next() % 50 == 0
                let duration = 200_000_000 + rng.next() % 2_000_000_000 + UInt64(i % 10) * 50_000_000
                batch.append(.measure(name, invocation: InvocationID(rawValue: UInt64(appended)), durationNs: duration,
                                      outcome: failed ? .failed : .ok, exitCode: failed ? 1 : 0,
                                      wallTimeNs: start + Int64(appended) * 1_000_000, pid: 1))
                appended += 1
                if batch.count == 100_000 {
                    try log.append(batch)
                    batch.removeAll(keepingCapacity: true)
                }
            }
        }
        if !batch.isEmpty { try log.append(batch) }
        try log.sync()

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

/// A strict JSON syntax check (RFC 8259) that also counts the elements of chosen arrays
/// of the top-level object: enough to verify a 100 MB projection without a JSON library.
enum JSONCheck {
    /// The element counts of the top-level arrays named `keys`; `nil` when `bytes` is not
    /// one valid JSON object.
    static func topLevelArrayCounts(_ bytes: [UInt8], keys: Set<String>) -> [String: Int]? {
        var p = Parser(bytes: bytes, keys: keys)
        guard p.topLevel(), p.atEnd() else { return nil }
        return p.counts
    }

    private struct Parser {
        let bytes: [UInt8]
        let keys: Set<String>
        var i = 0
        var counts: [String: Int] = [:]

        init(bytes: [UInt8], keys: Set<String>) {
            self.bytes = bytes
            self.keys = keys
        }

        mutating func skipSpace() {
            while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
        }

        mutating func atEnd() -> Bool {
            skipSpace()
            return i == bytes.count
        }

        mutating func eat(_ b: UInt8) -> Bool {
            skipSpace()
            guard i < bytes.count, bytes[i] == b else { return false }
            i += 1
            return true
        }

        mutating func topLevel() -> Bool {
            guard eat(0x7B) else { return false }
            if eat(0x7D) { return true }
            repeat {
                skipSpace()
                guard let key = string(), eat(0x3A) else { return false }
                if keys.contains(key) {
                    guard let n = array() else { return false }
                    counts[key] = n
                } else if !value(depth: 1) {
                    return false
                }
            } while eat(0x2C)
            return eat(0x7D)
        }

        /// An array's element count, or `nil` when it is not a valid array.
        mutating func array() -> Int? {
            guard eat(0x5B) else { return nil }
            if eat(0x5D) { return 0 }
            var n = 0
            repeat {
                guard value(depth: 2) else { return nil }
                n += 1
            } while eat(0x2C)
            return eat(0x5D) ? n : nil
        }

        mutating func value(depth: Int) -> Bool {
            guard depth < 64 else { return false }
            skipSpace()
            guard i < bytes.count else { return false }
            switch bytes[i] {
            case 0x7B:
                i += 1
                if eat(0x7D) { return true }
                repeat {
                    skipSpace()
                    guard string() != nil, eat(0x3A), value(depth: depth + 1) else { return false }
                } while eat(0x2C)
                return eat(0x7D)
            case 0x5B:
                i += 1
                if eat(0x5D) { return true }
                repeat {
                    guard value(depth: depth + 1) else { return false }
                } while eat(0x2C)
                return eat(0x5D)
            case 0x22: return string() != nil
            case 0x74: return literal("true")
            case 0x66: return literal("false")
            case 0x6E: return literal("null")
            default: return number()
            }
        }

        mutating func literal(_ word: StaticString) -> Bool {
            let n = word.utf8CodeUnitCount
            guard i + n <= bytes.count else { return false }
            let same = word.withUTF8Buffer { w in (0..<n).allSatisfy { bytes[i + $0] == w[$0] } }
            if same { i += n }
            return same
        }

        mutating func number() -> Bool {
            let start = i
            func digits() -> Int {
                let s = i
                while i < bytes.count, bytes[i] >= 0x30, bytes[i] <= 0x39 { i += 1 }
                return i - s
            }
            if i < bytes.count, bytes[i] == 0x2D { i += 1 }
            guard i < bytes.count else { return false }
            if bytes[i] == 0x30 {
                i += 1
            } else if digits() == 0 {
                return false
            }
            if i < bytes.count, bytes[i] == 0x2E {
                i += 1
                guard digits() > 0 else { return false }
            }
            if i < bytes.count, bytes[i] == 0x65 || bytes[i] == 0x45 {
                i += 1
                if i < bytes.count, bytes[i] == 0x2B || bytes[i] == 0x2D { i += 1 }
                guard digits() > 0 else { return false }
            }
            return i > start
        }

        /// A string's text (escapes kept as written, enough for key names), or `nil`.
        mutating func string() -> String? {
            guard i < bytes.count, bytes[i] == 0x22 else { return nil }
            i += 1
            let start = i
            while i < bytes.count {
                let b = bytes[i]
                if b == 0x22 {
                    let s = String(decoding: bytes[start..<i], as: UTF8.self)
                    i += 1
                    return s
                }
                if b < 0x20 { return nil }
                if b == 0x5C {
                    i += 1
                    guard i < bytes.count else { return nil }
                    switch bytes[i] {
                    case 0x22, 0x5C, 0x2F, 0x62, 0x66, 0x6E, 0x72, 0x74: i += 1
                    case 0x75:
                        guard i + 4 < bytes.count else { return nil }
                        for k in 1...4 {
                            let h = bytes[i + k]
                            guard (h >= 0x30 && h <= 0x39) || (h >= 0x61 && h <= 0x66) || (h >= 0x41 && h <= 0x46) else { return nil }
                        }
                        i += 5
                    default: return nil
                    }
                    continue
                }
                i += 1
            }
            return nil
        }
    }
}
