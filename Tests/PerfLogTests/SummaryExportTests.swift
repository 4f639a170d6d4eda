import Foundation
@testable import PerfLog
import PerfLogTestSupport
import Testing

@Suite("Summary exports")
struct SummaryExportTests {
    func makeProjection() throws -> Projection {
        let dir = try TemporaryDirectory()
        let log = try EventLog(path: dir.path + "/log")
        let streams = try [("planner", "claude"), ("planner", "codex"), ("coder \"x\", y", "gemini\\z"), ("规划", "claude")]
            .map { try StreamName(agent: $0.0, cli: $0.1) }
        var rng = SplitMix64(seed: 5)
        var events: [Event] = []
        for (i, s) in streams.enumerated() {
            for j in 0..<(20 + i) {
                events.append(.measure(s, invocation: InvocationID(rawValue: rng.next()), durationNs: 1_000_000 * UInt64(1 + i) + rng.next() % 500_000,
                                       outcome: j % 7 == 0 ? .failed : .ok, wallTimeNs: Int64(j) * 1_000_000_000, pid: 1))
            }
        }
        events.append(.mark(streams[0], invocation: .random(), wallTimeNs: 30_000_000_000, pid: 2))
        // A stream with only failures has no duration figures.
        let failing = try StreamName(agent: "tester", cli: "claude")
        events.append(.measure(failing, invocation: .random(), durationNs: 5, outcome: .failed, exitCode: 1, wallTimeNs: 0, pid: 1))
        try log.append(events)
        return try log.read { try Projector.project($0, now: 40_000_000_000) }
    }

    @Test("the OpenMetrics exposition parses with both Prometheus parsers and carries the figures")
    func openMetricsParses() throws {
        let projection = try makeProjection()
        let text = projection.rendered(.openmetrics)
        let script = """
            import sys
            from prometheus_client.openmetrics.parser import text_string_to_metric_families as om
            from prometheus_client.parser import text_string_to_metric_families as text
            body = sys.stdin.read()
            families = {f.name: f for f in om(body)}
            plain = {f.name: f for f in text(body)}
            s = families["perflog_invocation_duration_seconds"]
            assert s.type == "summary" and s.unit == "seconds", (s.type, s.unit)
            counts = {tuple(sorted(x.labels.items())): x.value for x in s.samples if x.name.endswith("_count")}
            for name in ("perflog_window_measures", "perflog_window_failures", "perflog_in_flight", "perflog_abandoned"):
                assert families[name].type == "gauge", name
            print(len(families), len(plain), len(s.samples))
            for labels, value in sorted(counts.items()):
                print(dict(labels)["agent"], dict(labels)["cli"], int(value))
            """
        let (status, output) = try runProgram("/usr/bin/env", ["python3", "-c", script], input: text)
        #expect(status == 0, "\(output)\n\(text)")
        let lines = output.split(separator: "\n").map(String.init)
        // Five families; four streams with ok measures × (4 quantiles + sum + count) samples.
        #expect(lines.first == "5 5 24")
        for s in projection.streams where s.durations != nil {
            #expect(lines.contains("\(s.stream.agent) \(s.stream.cli) \(s.durations?.count ?? -1)"), "\(s.stream)")
        }
        #expect(text.hasSuffix("# EOF\n"))
    }

    @Test("the Markdown report has a row per stream and escapes names")
    func markdown() throws {
        let projection = try makeProjection()
        let md = projection.rendered(.markdown)
        let rows = md.split(separator: "\n").filter { $0.hasPrefix("| ") && !$0.hasPrefix("| agent") && !$0.hasPrefix("| cli") }
        let comparisonRows = projection.comparisons.filter { $0.byCli.count > 1 }.reduce(0) { $0 + $1.byCli.count }
        #expect(rows.count == projection.streams.count + comparisonRows)
        #expect(md.contains("gemini\\\\z"))
        #expect(md.contains("| tester | claude | 1 | 1 | 0 | – |"))
    }

    @Test("the json summary is agent-performance.json")
    func json() throws {
        let projection = try makeProjection()
        #expect(projection.rendered(.json) == projection.json)
    }
}
