import Foundation
import PerfLogTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// What a team deploys, against the real engine: Debian's `prometheus`, `promtool` and
/// `prometheus-node-exporter` (installed by tools/setup; a missing one fails the test),
/// started on loopback, scraping real `perflog serve` hosts.
@Suite("Prometheus: fleet metrics from perflog serve hosts", .serialized, .timeLimit(.minutes(3)))
struct PrometheusTests {
    static let deploy = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("deploy").path

    /// One load stream: `rate` measures a second on `host`.
    struct Load {
        var host: Int
        var agent: String
        var cli: String
        var rate: Int
        var sent = 0
        /// Every successful duration sent, in milliseconds.
        var okMs: [Int] = []
        var failed = 0

        /// The next measure (its invocation unique: the rates of a host's streams
        /// differ): every fifth one fails; successful ones take 40, 45, 55 and
        /// 60 ms (mean 50) in the first phase and ten times that in the second.
        mutating func next(slow: Bool) -> String {
            let i = sent
            sent += 1
            let base = [40, 45, 55, 60, 50][i % 5]
            let ms = slow ? base * 10 : base
            let outcome = i % 5 == 4 ? "failed" : "ok"
            if i % 5 == 4 { failed += 1 } else { okMs.append(ms) }
            return measure(agent, cli, invocation: UInt64(host) << 40 | UInt64(rate) << 32 | UInt64(i + 1),
                           ms: ms, outcome: outcome)
        }
    }

    @Test("rates, failure ratio, mean and p95 across three hosts are true; counters never reset across compact, --retain and a restart; the dashboard's expressions return data")
    func fleetFiguresAreTrue() throws {
        let prometheus = try #require(Self.tool("prometheus"), "prometheus is not installed: run tools/setup")
        let dir = try scratch()
        let ports = try (0..<4).map { _ in try freePort() }
        var services: [Service] = []
        for h in 0..<3 {
            services.append(try Service(log: dir.file("log\(h)"), socket: dir.file("s\(h).sock"),
                                        options: ["--http", "127.0.0.1:\(ports[h])", "--label", "host=h\(h)"]))
        }
        defer { for s in services { _ = s.stop() } }
        var loads = [
            Load(host: 0, agent: "planner", cli: "claude", rate: 30), Load(host: 0, agent: "coder", cli: "codex", rate: 10),
            Load(host: 1, agent: "planner", cli: "claude", rate: 20),
            Load(host: 2, agent: "coder", cli: "codex", rate: 20), Load(host: 2, agent: "planner", cli: "gemini", rate: 10),
        ]
        var clients = try (0..<3).map { h in try Client.unix(dir.file("s\(h).sock")) }
        var acked = [0, 0, 0]
        func send(_ lines: [[String]]) throws {
            for h in 0..<3 where !lines[h].isEmpty {
                try clients[h].write(lines[h].joined())
                acked[h] += lines[h].count
                let replies = clients[h].replies(untilAck: acked[h])
                #expect(replies.lastAck == acked[h] && replies.errors.isEmpty, "host \(h): \(replies)")
            }
        }
        // Every stream exists before the first scrape.
        var seed: [[String]] = [[], [], []]
        for i in loads.indices { seed[loads[i].host].append(loads[i].next(slow: false)) }
        try send(seed)

        let config = """
            global:
              scrape_interval: 1s
              evaluation_interval: 1s
            rule_files:
              - \(Self.deploy)/prometheus/perflog-rules.yml
              - \(Self.deploy)/prometheus/perflog-alerts.yml
            scrape_configs:
              - job_name: perflog
                static_configs:
                  - targets: ['127.0.0.1:\(ports[0])', '127.0.0.1:\(ports[1])', '127.0.0.1:\(ports[2])']
            """
        try config.write(toFile: dir.file("prometheus.yml"), atomically: true, encoding: .utf8)
        let server = Process()
        server.executableURL = URL(fileURLWithPath: prometheus)
        server.arguments = ["--config.file=" + dir.file("prometheus.yml"), "--storage.tsdb.path=" + dir.file("tsdb"),
                            "--web.listen-address=127.0.0.1:\(ports[3])", "--log.level=warn"]
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try server.run()
        defer { server.terminate(); server.waitUntilExit() }
        let api = PrometheusAPI(port: ports[3])
        eventually("Prometheus scrapes all three hosts", within: 60, pollingEvery: 0.2) {
            (try? api.scalar("count(perflog_invocations_total)")) == 10 && (try? api.scalar("sum(up{job=\"perflog\"})")) == 3
        }

        // Two phases of 100 ms ticks at fixed deadlines, so that the rates are what they say.
        let tick = 0.1
        let start = Date().timeIntervalSince1970
        var phaseBStart = 0.0, end = 0.0
        for t in 0..<240 {
            let deadline = start + Double(t) * tick
            let wait = deadline - Date().timeIntervalSince1970
            if wait > 0 { usleep(useconds_t(wait * 1e6)) }
            let slow = t >= 100
            if t == 100 { phaseBStart = deadline }
            var lines: [[String]] = [[], [], []]
            for i in loads.indices {
                // rate/10 a tick, spread so that a rate of 5 would alternate.
                let due = loads[i].rate * (t + 1) / 10 - loads[i].rate * t / 10
                for _ in 0..<due { lines[loads[i].host].append(loads[i].next(slow: slow)) }
            }
            try send(lines)
            switch t {
            case 15:
                let r = try CLI.run(["compact", "--log", dir.file("log0")])
                #expect(r.status == 0, "\(r)")
            case 25:
                let r = try CLI.run(["compact", "--retain", "20", "--log", dir.file("log1")])
                #expect(r.status == 0, "\(r)")
            case 35:
                _ = services[2].stop()
                services[2] = try Service(log: dir.file("log2"), socket: dir.file("s2.sock"),
                                          options: ["--http", "127.0.0.1:\(ports[2])", "--label", "host=h2"])
                clients[2] = try Client.unix(dir.file("s2.sock"))
                acked[2] = 0
            default: break
            }
            end = deadline
        }
        let total = loads.reduce(0) { $0 + $1.sent }
        eventually("Prometheus has scraped everything sent", within: 30, pollingEvery: 0.2) {
            (try? api.scalar("sum(perflog_invocations_total)")) == Double(total)
        }
        #expect(end - phaseBStart > 10)

        // Within the second phase, 8 s windows.
        let at = end
        func byStream(_ query: String, at time: Double? = nil) throws -> [String: Double] {
            try api.vector(query, at: time).reduce(into: [:]) { $0["\($1.labels["agent"] ?? "")/\($1.labels["cli"] ?? "")"] = $1.value }
        }
        let rates = try byStream("sum by (agent, cli) (rate(perflog_invocations_total[8s]))", at: at)
        let failures = try byStream(
            "sum by (agent, cli) (rate(perflog_invocations_total{outcome=\"failed\"}[8s])) / sum by (agent, cli) (rate(perflog_invocations_total[8s]))",
            at: at)
        let means = try byStream(
            "sum by (agent, cli) (rate(perflog_invocation_duration_seconds_sum[8s])) / sum by (agent, cli) (rate(perflog_invocation_duration_seconds_count[8s]))",
            at: at)
        let p95s = try byStream("histogram_quantile(0.95, sum by (agent, cli, le) (perflog_invocation_duration_seconds_bucket))")
        var truthRate: [String: Int] = [:], okAll: [String: [Int]] = [:], sent: [String: Int] = [:]
        for l in loads {
            truthRate["\(l.agent)/\(l.cli)", default: 0] += l.rate
            okAll["\(l.agent)/\(l.cli)", default: []] += l.okMs
            sent["\(l.agent)/\(l.cli)", default: 0] += l.sent
        }
        let bounds = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600]
        for (stream, rate) in truthRate {
            #expect(Self.within(rates[stream], Double(rate), 0.05), "rate of \(stream): \(rates[stream] ?? -1), sent \(rate)/s")
            #expect(Self.within(failures[stream], 0.2, 0.05), "failure ratio of \(stream): \(failures[stream] ?? -1)")
            #expect(Self.within(means[stream], 0.5, 0.05), "mean of \(stream): \(means[stream] ?? -1) s")
            let sorted = (okAll[stream] ?? []).sorted()
            let p95 = Double(sorted[min(sorted.count - 1, Int((Double(sorted.count) * 0.95).rounded(.up)) - 1)]) / 1000
            let upper = bounds.first { $0 >= p95 } ?? .infinity
            let lower = bounds.last { $0 < p95 } ?? 0
            let estimate = p95s[stream] ?? -1
            #expect(estimate >= lower && estimate <= upper, "p95 of \(stream): \(estimate), true \(p95) in (\(lower), \(upper)]")
        }
        let totals = try byStream("sum by (agent, cli) (perflog_invocations_total)")
        for (stream, n) in sent { #expect(totals[stream] == Double(n), "\(stream): \(totals[stream] ?? -1) counted, \(n) sent") }
        #expect(try api.scalar("sum(resets(perflog_invocations_total[5m]))") == 0)
        #expect(try api.scalar("sum(resets(perflog_invocation_duration_seconds_count[5m]))") == 0)
        #expect(try api.scalar("sum(resets(perflog_invocation_duration_seconds_bucket[5m]))") == 0)

        // Every expression of the dashboard, as Grafana would send it.
        let dashboard = try String(contentsOfFile: Self.deploy + "/grafana/perflog-dashboard.json", encoding: .utf8)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(dashboard.utf8)) as? [String: Any])
        let expressions = Self.expressions(in: json)
        #expect(expressions.count >= 6)
        for expr in expressions {
            let query = expr.replacingOccurrences(of: "$__rate_interval", with: "10s")
                .replacingOccurrences(of: "$host", with: ".*").replacingOccurrences(of: "$agent", with: ".*")
                .replacingOccurrences(of: "$cli", with: ".*")
            let result = try api.vector(query, at: nil)
            #expect(!result.isEmpty, "no data for the dashboard's \(query)")
        }
        // And the recording rules evaluated.
        #expect(try api.vector("agent_cli:perflog_invocations:rate5m", at: nil).count == 3)
    }

    @Test("promtool check metrics accepts /metrics in OpenMetrics and in the classic text format")
    func promtoolChecksBothFormats() throws {
        let promtool = try #require(Self.tool("promtool"), "promtool is not installed: run tools/setup")
        let dir = try scratch()
        let service = try Service(log: dir.file("log"), socket: dir.file("s.sock"), options: ["--http", "127.0.0.1:0", "--label", "host=a"])
        defer { _ = service.stop() }
        let client = try Client.unix(dir.file("s.sock"))
        try client.write(measure("planner", "claude", invocation: 1) + measure("planner", "claude", invocation: 2, outcome: "failed")
            + measure("only", "failures", invocation: 3, outcome: "failed"))
        #expect(client.replies(untilAck: 3).lastAck == 3)
        let port = try #require(service.httpPort)
        for accept in ["application/openmetrics-text; version=1.0.0", "text/plain; version=0.0.4"] {
            let reply = try rawHTTP(port: port, "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: \(accept)\r\nConnection: close\r\n\r\n")
            #expect(reply.status == 200)
            let (status, output) = try runProgram(promtool, ["check", "metrics"], input: reply.body)
            if accept.hasPrefix("text/plain") {
                #expect(status == 0 && output.isEmpty, "\(accept): \(output)\n\(reply.body)")
            } else {
                // promtool 2.42 reads only the classic format: OpenMetrics' samples named
                // apart from their family (a counter's _total, the _created ones) have no
                // HELP of their own there. Anything else is a real problem, and a parse
                // failure (status 1) too.
                #expect(status == 0 || status == 3, "\(accept): \(output)\n\(reply.body)")
                for line in output.split(separator: "\n") {
                    let name = line.split(separator: " ").first ?? ""
                    #expect(line.hasSuffix(" no help text") && (name.hasSuffix("_total") || name.hasSuffix("_created")), "\(line)")
                }
            }
        }
    }

    @Test("the recording and alerting rules pass promtool check rules and their unit tests")
    func rulesPassPromtool() throws {
        _ = try #require(Self.tool("promtool"), "promtool is not installed: run tools/setup")
        let (status, output) = try runProgram(Self.deploy + "/check", [])
        #expect(status == 0, "\(output)")
    }

    @Test("node_exporter's textfile collector takes two logs' exports told apart by --label")
    func textfileCollectorTakesTwoLogs() throws {
        let exporter = try #require(Self.tool("prometheus-node-exporter"), "prometheus-node-exporter is not installed: run tools/setup")
        let dir = try scratch()
        let textfiles = dir.file("textfile")
        try FileManager.default.createDirectory(atPath: textfiles, withIntermediateDirectories: false)
        for name in ["builds", "reviews"] {
            let log = dir.file(name)
            try CLI.record(log: log, agent: "planner", cli: "claude", duration: "1s")
            try CLI.record(log: log, agent: "planner", cli: "claude", duration: "2s", extra: ["--failed"])
            let out = textfiles + "/\(name).prom"
            // node_exporter reads only what its user may read; perflog keeps a file's mode.
            #expect(FileManager.default.createFile(atPath: out, contents: nil, attributes: [.posixPermissions: 0o644]))
            let r = try CLI.run(["export", "--format", "prometheus", "--label", "log=\(name)", "--out", out, "--log", log])
            #expect(r.status == 0, "\(r)")
        }
        let port = try freePort()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: exporter)
        process.arguments = ["--web.listen-address=127.0.0.1:\(port)", "--collector.disable-defaults", "--collector.textfile",
                             "--collector.textfile.directory=" + textfiles]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        defer { process.terminate(); process.waitUntilExit() }
        var body = ""
        eventually("node_exporter answers", within: 30, pollingEvery: 0.1) {
            body = (try? http(port: port, "GET", "/metrics"))?.body ?? ""
            return body.contains("node_textfile_scrape_error")
        }
        #expect(body.contains("node_textfile_scrape_error 0"), "\(body)")
        for name in ["builds", "reviews"] {
            #expect(body.contains("perflog_invocations_total{agent=\"planner\",cli=\"claude\",log=\"\(name)\",outcome=\"failed\"} 1"), "\(body)")
            #expect(body.contains("perflog_invocation_duration_seconds_count{agent=\"planner\",cli=\"claude\",log=\"\(name)\"} 1"), "\(body)")
        }
    }

    // MARK: Support

    static func tool(_ name: String) -> String? {
        ["/usr/bin/", "/usr/local/bin/", "/usr/sbin/"].map { $0 + name }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    static func within(_ value: Double?, _ truth: Double, _ tolerance: Double) -> Bool {
        guard let value else { return false }
        return abs(value - truth) <= tolerance * truth
    }

    /// Every `expr` of the dashboard's panels and targets.
    static func expressions(in value: Any) -> [String] {
        if let object = value as? [String: Any] {
            var out: [String] = []
            if let expr = object["expr"] as? String, !expr.isEmpty { out.append(expr) }
            for (key, v) in object where key != "templating" { out += expressions(in: v) }
            return out
        }
        if let array = value as? [Any] { return array.flatMap { expressions(in: $0) } }
        return []
    }
}

/// Prometheus's HTTP API, through curl.
struct PrometheusAPI {
    let port: Int

    struct Sample {
        var labels: [String: String]
        var value: Double
    }

    func vector(_ query: String, at time: Double?) throws -> [Sample] {
        var arguments = ["-sS", "--max-time", "10", "--get", "http://127.0.0.1:\(port)/api/v1/query", "--data-urlencode", "query=\(query)"]
        if let time { arguments += ["--data-urlencode", "time=\(time)"] }
        let (status, output) = try runProgram("/usr/bin/curl", arguments)
        guard status == 0, let object = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any],
              object["status"] as? String == "success", let data = object["data"] as? [String: Any]
        else { throw ServeTestFailure("query \(query): \(output)") }
        let result = data["result"] as? [[String: Any]] ?? []
        return result.compactMap { r in
            guard let pair = r["value"] as? [Any], pair.count == 2, let text = pair[1] as? String, let v = Double(text) else { return nil }
            return Sample(labels: r["metric"] as? [String: String] ?? [:], value: v)
        }
    }

    /// The single value of `query`; nil when it has none.
    func scalar(_ query: String) throws -> Double? {
        try vector(query, at: nil).first?.value
    }
}

/// A TCP port on loopback that nothing listens on now.
func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw ServeTestFailure("socket failed") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { p in bind(fd, p, length) == 0 && getsockname(fd, p, &length) == 0 }
    }
    guard bound else { throw ServeTestFailure("cannot bind a loopback port") }
    return Int(UInt16(bigEndian: address.sin_port))
}
