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

    /// Reads an exposition with prometheus_client's parser of `format` and prints, per
    /// stream, what a scraper would take from it.
    static let parseScript = """
        import sys
        from prometheus_client.openmetrics.parser import text_string_to_metric_families as om
        from prometheus_client.parser import text_string_to_metric_families as classic
        body = sys.stdin.read()
        families = {f.name: f for f in (om if sys.argv[1] == "openmetrics" else classic)(body)}
        print("families", " ".join(sorted(f"{n}:{f.type}" for n, f in families.items())))
        h = families["perflog_invocation_duration_seconds"]
        by = {}
        for x in h.samples:
            key = (x.labels["agent"], x.labels["cli"])
            if x.name.endswith("_bucket"):
                by.setdefault(key, []).append((float(x.labels["le"]), x.value))
            elif x.name.endswith("_count"):
                print("count", *key, int(x.value))
            elif x.name.endswith("_sum"):
                print("sum", *key, round(x.value, 6))
            elif x.name.endswith("_created"):
                print("created", *key)
        for key, buckets in sorted(by.items()):
            values = [v for _, v in buckets]
            assert buckets[-1][0] == float("inf") and values == sorted(values), buckets
            print("buckets", *key, len(buckets), int(values[-1]))
        for x in families["perflog_invocations"].samples:
            if x.name.endswith("_total"):
                print("total", x.labels["agent"], x.labels["cli"], x.labels["outcome"], int(x.value))
        for x in families["perflog_window_duration_seconds"].samples:
            if x.labels["stat"] == "max":
                print("max", x.labels["agent"], x.labels["cli"], round(x.value, 6))
        """

    @Test("the exposition parses with Prometheus's parser of each format and carries the lifetime and window figures",
          arguments: [SummaryFormat.openmetrics, .prometheus])
    func expositionParses(format: SummaryFormat) throws {
        let projection = try makeProjection()
        let text = projection.rendered(format)
        let (status, output) = try runProgram("/usr/bin/env", ["python3", "-c", Self.parseScript, format.rawValue], input: text)
        #expect(status == 0, "\(output)\n\(text)")
        let lines = Set(output.split(separator: "\n").map(String.init))
        #expect(lines.contains(
            "families perflog_abandoned:gauge perflog_in_flight:gauge perflog_invocation_duration_seconds:histogram "
                + "perflog_invocations:counter perflog_last_measure_timestamp_seconds:gauge perflog_window_duration_seconds:gauge "
                + "perflog_window_failures:gauge perflog_window_measures:gauge"), "\(output)")
        let buckets = BucketBounds.standard.bucketCount
        for s in projection.streams {
            let name = "\(s.stream.agent) \(s.stream.cli)"
            let ok = s.count - s.failures
            // Every stream has its counters, the one without a successful measure too.
            #expect(lines.contains("count \(name) \(ok)"), "\(name)\n\(output)")
            #expect(lines.contains("buckets \(name) \(buckets) \(ok)"), "\(name)\n\(output)")
            #expect(lines.contains("total \(name) ok \(ok)"), "\(name)\n\(output)")
            #expect(lines.contains("total \(name) failed \(s.failures)"), "\(name)\n\(output)")
            #expect(lines.contains("created \(name)") == (format == .openmetrics), "\(name)\n\(output)")
            if let d = s.durations {
                let sum = (d.meanNs * Double(d.count) / 1e9 * 1e6).rounded() / 1e6
                #expect(lines.contains("sum \(name) \(sum)"), "\(name)\n\(output)")
                #expect(lines.contains("max \(name) \((d.maxNs / 1e9 * 1e6).rounded() / 1e6)"), "\(name)\n\(output)")
            } else {
                #expect(!lines.contains { $0.hasPrefix("max \(name) ") }, "no window durations without a successful measure")
            }
        }
        #expect(text.hasSuffix("# EOF\n") == (format == .openmetrics))
        #expect(text.contains("# UNIT ") == (format == .openmetrics))
    }

    @Test("constant labels come first on every series; names Prometheus refuses or perflog uses are refused",
          arguments: [
            (["host=a"], nil), (["host=a", "log=b=c"], nil), (["host="], nil), (["_x9=v"], nil),
            (["host"], "must be NAME=VALUE"), (["9x=v"], "not a Prometheus label name"), (["__x=v"], "not a Prometheus label name"),
            (["ho-st=v"], "not a Prometheus label name"), (["=v"], "not a Prometheus label name"),
            (["agent=v"], "one of perflog's own labels"), (["le=v"], "one of perflog's own labels"),
            (["host=a", "host=b"], "given twice"),
          ] as [([String], String?)])
    func constantLabels(assignments: [String], refusal: String?) throws {
        do {
            let labels = try MetricLabels(parsing: assignments)
            #expect(refusal == nil)
            let text = try makeProjection().rendered(.openmetrics, labels: labels)
            let prefix = labels.labels.map { "\($0.name)=\"\($0.value)\"" }.joined(separator: ",")
            for line in text.split(separator: "\n") where !line.hasPrefix("#") {
                #expect(line.contains("{" + prefix + ",agent="), "\(line)")
            }
        } catch let error as PerfLogError {
            guard case .invalidInput(let field, let rule) = error else { Issue.record("\(error)"); return }
            #expect(field == "label")
            #expect(refusal.map { rule.contains($0) } == true, "\(rule)")
        }
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
        #expect(md.contains("| agent | cli | count | failures | in flight | mean (ms) | p50 (ms) | p90 (ms) | p95 (ms) | p99 (ms) "
                            + "| max (ms) | stddev (ms) | relative |\n"), "\(md)")
    }

    @Test("each Markdown stream row has its p95 and its speed relative to the agent's fastest CLI")
    func markdownFigures() throws {
        let projection = try makeProjection()
        let md = projection.rendered(.markdown)
        let planner = try #require(projection.comparisons.first { $0.agent == "planner" })
        for s in projection.streams where s.stream.agent == "planner" {
            let d = try #require(s.durations)
            let entry = try #require(planner.byCli.first { $0.cli == s.stream.cli })
            let relative = Markdown.fixed(try #require(entry.relative), 2) + "×"
            let row = "| planner | \(s.stream.cli) | \(s.count) | \(s.failures) | \(s.inFlight) | \(Markdown.ms(d.meanNs)) | "
                + "\(Markdown.ms(d.p50Ns)) | \(Markdown.ms(d.p90Ns)) | \(Markdown.ms(d.p95Ns)) | \(Markdown.ms(d.p99Ns)) | "
                + "\(Markdown.ms(d.maxNs)) | \(Markdown.ms(d.stddevNs)) | \(relative) |"
            #expect(md.contains(row + "\n"), "\(row) not in \(md)")
        }
        // claude's durations are about 1 ms, codex's about 2 ms: the fastest is 1.00×.
        #expect(md.contains("| planner | claude |") && md.split(separator: "\n").contains { $0.hasPrefix("| planner | claude |") && $0.hasSuffix("| 1.00× |") })
        #expect(md.split(separator: "\n").contains { $0.hasPrefix("| planner | codex |") && !$0.hasSuffix("| 1.00× |") })
        #expect(md.contains("| tester | claude | 1 | 1 | 0 | – | – | – | – | – | – | – | – |"), "\(md)")
    }

    @Test("the json summary is agent-performance.json")
    func json() throws {
        let projection = try makeProjection()
        #expect(projection.rendered(.json) == projection.json)
    }
}
