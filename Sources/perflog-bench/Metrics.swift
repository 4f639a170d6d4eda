import ArgumentParser
import PerfLog
#if canImport(Glibc)
import Glibc
#endif

struct MetricsCase: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metrics",
        abstract: "Milliseconds of GET /metrics from perflog serve on a large log, once its streams' texts are kept.",
        discussion: """
            Builds the log (--streams × --per-stream measures, ring --retain), starts perflog \
            serve --http on it, and times whole scrapes (connect, request, read to the end) \
            over loopback: the first one, which reads every ring, then --repeat more. A \
            scrape reads every stream record, so its cost grows with the streams, not the \
            events held: run it with --retain 1000 --per-stream 1000 to compare.
            """)

    @Option(help: "Streams (agent × CLI pairs).") var streams = 10_000
    @Option(help: "Measures appended per stream.") var perStream = 100
    @Option(help: "Ring size.") var retain = 100
    @Option(help: "Scrapes timed after the first.") var scrapes = 15
    @OptionGroup var common: CommonOptions

    func run() throws {
        let dir = makeTemporaryDirectory("metrics")
        defer { removeTree(dir) }
        let (_, appended) = try SyntheticLog.make(at: dir + "/log", streams: streams, perStream: perStream, retain: retain)
        let server = try ServerProcess(argv: [try perflogBinary(), "serve", "--log", dir + "/log", "--socket", dir + "/s.sock",
                                              "--http", "127.0.0.1:0", "--json"])
        defer { _ = server.stop() }
        guard let colon = server.startup.firstRange(of: "\"http\":\"127.0.0.1:")?.upperBound,
              let port = UInt16(server.startup[colon...].prefix { $0.isNumber })
        else { throw BenchError("no HTTP port in \(server.startup)") }

        let t0 = monotonicNs()
        let first = try scrape(port: port)
        let firstMs = Double(monotonicNs() - t0) / 1e6
        var times: [Double] = []
        var bodyBytes = first.count
        var verified = Self.check(first, streams: streams)
        // Timed scrapes are read as a scraper reads them, into a buffer used again, and
        // only counted; the last one is kept and compared with the first.
        var buffer = [UInt8](repeating: 0, count: 1 << 22)
        for _ in 0..<max(1, scrapes) {
            let t = monotonicNs()
            let n = try scrape(port: port, into: &buffer)
            times.append(Double(monotonicNs() - t) / 1e6)
            // Only the service's own counters' digits may differ.
            verified = verified && abs(n - first.count) < 64
        }
        let last = try scrape(port: port)
        bodyBytes = last.count
        verified = verified && Self.streamPart(last) == Self.streamPart(first)
        var r = Report()
        r.add("case", "metrics")
        r.add("events", appended)
        r.add("streams", streams)
        r.add("retain", retain)
        r.add("events_held", streams * min(perStream, retain))
        r.add("body_bytes", bodyBytes)
        r.add("first_ms", firstMs)
        r.add("median_ms", median(times))
        r.add("max_ms", times.max() ?? 0)
        r.add("verified", verified)
        print(r.line)
    }

    /// The response's figures of the log, without the headers and the service's own
    /// counters (which count the scrapes).
    static func streamPart(_ response: [UInt8]) -> Substring {
        let text = String(decoding: response, as: UTF8.self)
        let start = text.firstRange(of: "\r\n\r\n")?.upperBound ?? text.startIndex
        let end = text.firstRange(of: "# TYPE perflog_serve_")?.lowerBound ?? text.endIndex
        return text[start..<end]
    }

    /// Whether `response` is a 200 with one ok and one failed counter per stream, ending in `# EOF`.
    static func check(_ response: [UInt8], streams: Int) -> Bool {
        let text = String(decoding: response, as: UTF8.self)
        guard text.hasPrefix("HTTP/1.1 200"), text.hasSuffix("# EOF\n") else { return false }
        var counters = 0
        for line in text.split(separator: "\n") where line.hasPrefix("perflog_invocations_total{") { counters += 1 }
        return counters == 2 * streams
    }

    /// One `GET /metrics` over a new connection, read to its end.
    private func scrape(port: UInt16) throws -> [UInt8] {
        let fd = try request(port: port)
        defer { close(fd) }
        let (bytes, failure) = POSIXIO.readAll(fd, chunkBytes: 1 << 20, limit: 1 << 31)
        guard failure == nil else { throw BenchError("cannot read the response") }
        return bytes
    }

    /// One `GET /metrics` read to its end through `buffer`; returns its length in bytes.
    private func scrape(port: UInt16, into buffer: inout [UInt8]) throws -> Int {
        let fd = try request(port: port)
        defer { close(fd) }
        var total = 0
        while true {
            let n = buffer.withUnsafeMutableBytes { b in POSIXIO.retryingInterrupts { read(fd, b.baseAddress, b.count) } }
            guard n >= 0 else { throw BenchError("cannot read the response") }
            if n == 0 { return total }
            total += n
        }
    }

    /// A connection that has sent `GET /metrics`.
    private func request(port: UInt16) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw BenchError("socket failed") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { close(fd); throw BenchError("cannot connect to 127.0.0.1:\(port)") }
        let text = Array("GET /metrics HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".utf8)
        let failed = text.withUnsafeBytes { POSIXIO.writeAll(fd, $0) }
        guard failed == nil else { close(fd); throw BenchError("cannot send the request") }
        return fd
    }
}
