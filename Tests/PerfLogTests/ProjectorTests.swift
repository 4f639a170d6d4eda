import Foundation
@testable import PerfLog
import PerfLogTestSupport
import Testing

/// A log filled with random events and the model of what it must hold.
struct ProjectionScenario {
    let dir: TemporaryDirectory
    let log: EventLog
    var model: LogModel
    let now: Int64

    static let now: Int64 = 1_768_855_824_000_000_000
    static let agents = ["planner", "pläner ü", "計画", "say \"hi\", then", "a,b\\c"]
    static let clis = ["claude", "codex", "gemini 🚀", "x\"y", "c,s,v"]

    /// Random marks (some left open for hours), measures (some failed, some closing a
    /// mark), durations from 0.001 ms to 1e7 ms, wall times mostly rising with the odd
    /// step back, more measures per stream than the ring keeps.
    init(seed: UInt64, in dir: TemporaryDirectory? = nil) throws {
        var rng = SplitMix64(seed: seed)
        self.dir = try dir ?? TemporaryDirectory()
        var options = EventLog.Options()
        options.retain = Int.random(in: 1...12, using: &rng)
        log = try EventLog(path: self.dir.path + "/log", options: options)
        model = LogModel(retain: options.retain)
        now = ProjectionScenario.now
        var names: [StreamName] = []
        for a in ProjectionScenario.agents {
            for c in ProjectionScenario.clis where Int.random(in: 0..<3, using: &rng) == 0 {
                names.append(try StreamName(agent: a, cli: c))
            }
        }
        if names.isEmpty { names.append(try StreamName(agent: "planner", cli: "claude")) }
        var wall = now - 3 * 3_600_000_000_000
        var pending: [(StreamName, InvocationID)] = []
        var seq: UInt64 = 0
        for _ in 0..<Int.random(in: 5...40, using: &rng) {
            var batch: [Event] = []
            for _ in 0..<Int.random(in: 1...25, using: &rng) {
                wall += Int64.random(in: 0...60_000_000_000, using: &rng)
                let at = Int.random(in: 0..<8, using: &rng) == 0 ? wall - 5_000_000_000 : wall
                let duration: UInt64 = switch Int.random(in: 0..<6, using: &rng) {
                case 0: 1000  // 0.001 ms
                case 1: 10_000_000_000_000  // 1e7 ms
                case 2: 1_500_000_000 + UInt64.random(in: 0...1000, using: &rng) * 500  // exact half microseconds too
                default: UInt64.random(in: 0...5_000_000_000, using: &rng)
                }
                let outcome: Outcome = Int.random(in: 0..<7, using: &rng) == 0 ? .failed : .ok
                let roll = Int.random(in: 0..<10, using: &rng)
                if roll < 2 {
                    let s = names.randomElement(using: &rng)!
                    let id = InvocationID(rawValue: rng.next())
                    pending.append((s, id))
                    batch.append(.mark(s, invocation: id, wallTimeNs: at, pid: 7))
                } else if roll < 4, !pending.isEmpty {
                    let (s, id) = pending.remove(at: Int.random(in: 0..<pending.count, using: &rng))
                    batch.append(.measure(s, invocation: id, durationNs: duration, outcome: outcome,
                                          exitCode: outcome == .failed ? 1 : 0, wallTimeNs: at, pid: 7))
                } else {
                    batch.append(.measure(names.randomElement(using: &rng)!, invocation: InvocationID(rawValue: rng.next()),
                                          durationNs: duration, outcome: outcome, wallTimeNs: at, pid: 7,
                                          meta: roll == 9 ? ["model": "opus"] : [:]))
                }
            }
            try log.append(batch)
            for var e in batch {
                seq += 1
                e.seq = seq
                model.apply(e)
            }
        }
    }

    /// Every stream with an event in the log.
    var streams: [StreamName] {
        Set(model.measures.keys).union(model.open.values.map(\.stream)).sorted()
    }

    /// The statistics each stream must have, computed the plain way.
    func expected(_ s: StreamName) -> (count: Int, failures: Int, inFlight: Int, abandoned: Int, ok: [Double],
                                       first: Int64?, last: Int64?) {
        let window = model.ring(s)
        let marks = model.open.values.filter { $0.stream == s }
        return (window.count, window.filter { $0.outcome == .failed }.count, marks.count,
                marks.filter { now - $0.wallTimeNs > 3_600_000_000_000 }.count,
                window.filter { $0.outcome == .ok }.map { Double($0.durationNs) },
                window.map(\.wallTimeNs).min(), window.map(\.wallTimeNs).max())
    }

    /// Every retained measure, ordered by time then seq.
    var expectedMeasurements: [RetainedMeasure] {
        let retained: [Event] = streams.flatMap { model.ring($0) }
        let ordered = retained.sorted { a, b in a.wallTimeNs != b.wallTimeNs ? a.wallTimeNs < b.wallTimeNs : a.seq < b.seq }
        return ordered.map { e in
            RetainedMeasure(stream: e.stream, seq: e.seq, wallTimeNs: e.wallTimeNs, durationNs: e.durationNs, outcome: e.outcome)
        }
    }

    /// The wall time of the newest (highest seq) retained measure or open mark.
    var expectedGeneratedAt: Int64 {
        (streams.flatMap { model.ring($0) } + model.open.values).max { $0.seq < $1.seq }?.wallTimeNs ?? 0
    }
}

/// Validates JSON files against the shipped schema with python3's `jsonschema`; returns
/// its exit status and output. A missing python3 or jsonschema is a failure, not a skip.
func validateAgainstSchema(_ files: [String]) throws -> (status: Int32, output: String) {
    let schema = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("schema/agent-performance.schema.json").path
    let script = """
        import json, sys
        import jsonschema
        schema = json.load(open(sys.argv[1], encoding="utf-8"))
        jsonschema.Draft202012Validator.check_schema(schema)
        validator = jsonschema.Draft202012Validator(schema)
        bad = 0
        for path in sys.argv[2:]:
            for error in validator.iter_errors(json.load(open(path, encoding="utf-8"))):
                print(path, list(error.absolute_path), error.message[:200])
                bad += 1
        sys.exit(1 if bad else 0)
        """
    return try runProgram("/usr/bin/env", ["python3", "-c", script, schema] + files)
}

/// The inode and modification time of `path`, or `nil` when it does not exist.
func fileVersion(_ path: String) -> (inode: UInt64, seconds: Int, nanoseconds: Int)? {
    var st = stat()
    guard stat(path, &st) == 0 else { return nil }
    #if canImport(Darwin)
    return (UInt64(st.st_ino), st.st_mtimespec.tv_sec, st.st_mtimespec.tv_nsec)
    #else
    return (UInt64(st.st_ino), st.st_mtim.tv_sec, st.st_mtim.tv_nsec)
    #endif
}

@Suite("Projector")
struct ProjectorTests {
    @Test("per-stream statistics, comparisons and measurements match a plain computation on random logs",
          arguments: Array(UInt64(1)...12))
    func randomLogs(seed: UInt64) throws {
        let sc = try ProjectionScenario(seed: seed)
        let p = try sc.log.read { try Projector.project($0, now: sc.now) }
        #expect(p.retain == sc.model.retain)
        #expect(p.streams.map(\.stream) == sc.streams)
        #expect(p.generatedAtNs == sc.expectedGeneratedAt)
        for st in p.streams {
            let e = sc.expected(st.stream)
            #expect(st.count == e.count && st.failures == e.failures, "\(st.stream)")
            #expect(st.count == min(sc.model.retain, sc.model.measures[st.stream]?.count ?? 0))
            #expect(st.inFlight == e.inFlight && st.abandoned == e.abandoned, "\(st.stream)")
            #expect(st.firstAtNs == e.first && st.lastAtNs == e.last, "\(st.stream)")
            if e.ok.isEmpty {
                #expect(st.durations == nil)
                continue
            }
            let d = try #require(st.durations)
            #expect(d.count == e.ok.count)
            expectClose(d.meanNs, Reference.mean(e.ok), 1e-12, "mean")
            expectClose(d.minNs, e.ok.min()!, 0, "min")
            expectClose(d.maxNs, e.ok.max()!, 0, "max")
            expectClose(d.p50Ns, Reference.percentile(e.ok, 0.5), 1e-12, "p50")
            expectClose(d.p90Ns, Reference.percentile(e.ok, 0.9), 1e-12, "p90")
            expectClose(d.p95Ns, Reference.percentile(e.ok, 0.95), 1e-12, "p95")
            expectClose(d.p99Ns, Reference.percentile(e.ok, 0.99), 1e-12, "p99")
            expectClose(d.stddevNs, Reference.stddev(e.ok), 1e-9, "stddev")
            #expect(d.outliers == Reference.outliers(e.ok))
        }
        #expect(p.measurements == sc.expectedMeasurements)
        try checkComparisons(p)
    }

    /// Each agent's CLIs: the fastest has the lowest mean, the order is by shown mean then
    /// name, relative is the ratio of means, p-values match the integrated reference.
    func checkComparisons(_ p: Projection) throws {
        let agents = p.streams.map(\.stream.agent).reduce(into: [String]()) { if $0.last != $1 { $0.append($1) } }
        #expect(p.comparisons.map(\.agent) == agents)
        for c in p.comparisons {
            let clis = p.streams.filter { $0.stream.agent == c.agent }
            #expect(Set(c.byCli.map(\.cli)) == Set(clis.map(\.stream.cli)))
            let withMean = clis.filter { $0.durations != nil }
            guard let fastest = withMean.min(by: { $0.durations!.meanNs < $1.durations!.meanNs })?.durations else {
                #expect(c.fastestCli == nil)
                continue
            }
            let first = try #require(clis.first { $0.stream.cli == c.fastestCli }?.durations)
            #expect(abs(first.meanNs - fastest.meanNs) <= 1000, "the fastest's shown mean is the lowest")
            let shown = c.byCli.compactMap { $0.meanNs.map { ($0 / 1000).rounded(.toNearestOrAwayFromZero) } }
            #expect(shown == shown.sorted(), "ranked by mean")
            for (a, b) in zip(c.byCli, c.byCli.dropFirst()) where a.meanNs != nil && b.meanNs != nil {
                let ma = (a.meanNs! / 1000).rounded(.toNearestOrAwayFromZero), mb = (b.meanNs! / 1000).rounded(.toNearestOrAwayFromZero)
                if ma == mb { #expect(a.cli.utf8.lexicographicallyPrecedes(b.cli.utf8), "ties by name") }
            }
            #expect(c.byCli.drop { $0.meanNs != nil }.allSatisfy { $0.meanNs == nil }, "CLIs without a mean come last")
            for e in c.byCli {
                guard let d = clis.first(where: { $0.stream.cli == e.cli })?.durations else {
                    #expect(e.relative == nil && e.pValue == nil)
                    continue
                }
                if e.cli == c.fastestCli {
                    #expect(e.relative == 1 && e.pValue == nil)
                    continue
                }
                if first.meanNs > 0 {
                    expectClose(e.relative, d.meanNs / first.meanNs, 1e-12, "relative")
                    if d.count >= 2 && first.count >= 2 {
                        let a = d.stddevNs / Double(d.count).squareRoot() / d.meanNs
                        let b = first.stddevNs / Double(first.count).squareRoot() / first.meanNs
                        expectClose(e.relativeUncertainty, d.meanNs / first.meanNs * (a * a + b * b).squareRoot(), 1e-9,
                                    "uncertainty")
                    }
                }
                if d.count >= 2 && first.count >= 2 && (d.varianceNs2 > 0 || first.varianceNs2 > 0) {
                    let p = try #require(e.pValue)
                    let t = (d.meanNs - first.meanNs) / (d.varianceNs2 / Double(d.count) + first.varianceNs2 / Double(first.count)).squareRoot()
                    let sa = d.varianceNs2 / Double(d.count), sb = first.varianceNs2 / Double(first.count)
                    let df = (sa + sb) * (sa + sb) / (sa * sa / Double(d.count - 1) + sb * sb / Double(first.count - 1))
                    #expect(abs(p - Reference.studentP(t: t, df: df, intervals: 20_000)) < 1e-6, "p-value of \(e.cli)")
                } else {
                    #expect(e.pValue == nil)
                }
            }
        }
    }

    @Test("reading only some streams' rings gives the same figures as the full pass", arguments: Array(UInt64(1)...6))
    func filteredEqualsFull(seed: UInt64) throws {
        let sc = try ProjectionScenario(seed: seed)
        try sc.log.read { r in
            let full = try Projector.project(r, now: sc.now)
            for agent in Set(full.streams.map(\.stream.agent)) {
                let part = try Projector.project(r, filter: StreamFilter(agent: agent), now: sc.now)
                #expect(part.streams == full.streams.filter { $0.stream.agent == agent })
                #expect(part.comparisons == full.comparisons.filter { $0.agent == agent })
                #expect(part.measurements == full.measurements.filter { $0.stream.agent == agent })
            }
            for st in full.streams {
                #expect(try Projector.statistics(r, stream: st.stream, now: sc.now) == st)
                let one = try Projector.project(r, filter: StreamFilter(agent: st.stream.agent, cli: st.stream.cli), now: sc.now)
                #expect(one.streams == [st])
            }
            let absent = try StreamName(agent: "nobody", cli: "none")
            #expect(try Projector.statistics(r, stream: absent, now: sc.now) == nil)
        }
    }

    @Test("the JSON holds the projection's figures, rounded to the microsecond, and validates against the schema",
          arguments: Array(UInt64(1)...6))
    func jsonContent(seed: UInt64) throws {
        let sc = try ProjectionScenario(seed: seed)
        let p = try sc.log.read { try Projector.project($0, now: sc.now) }
        let bytes = p.jsonBytes
        let root = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        #expect(root["schemaVersion"] as? Int == 1)
        #expect(root["retain"] as? Int == sc.model.retain)
        #expect(root["generatedAt"] as? String == Timestamp.iso8601(unixNanoseconds: p.generatedAtNs, precision: .milliseconds))
        func ms(_ ns: Double?) -> Double? { ns.map { ($0 / 1000).rounded(.toNearestOrAwayFromZero) / 1000 } }
        func number(_ v: Any?) -> Double? { (v as? NSNumber)?.doubleValue }
        let streams = try #require(root["streams"] as? [[String: Any]])
        #expect(streams.count == p.streams.count)
        for (j, st) in zip(streams, p.streams) {
            #expect(j["agent"] as? String == st.stream.agent && j["cli"] as? String == st.stream.cli)
            #expect(j["count"] as? Int == st.count && j["failures"] as? Int == st.failures)
            #expect(j["inFlight"] as? Int == st.inFlight && j["abandoned"] as? Int == st.abandoned)
            let d = st.durations
            for (key, value) in [("meanMs", d?.meanNs), ("minMs", d?.minNs), ("p50Ms", d?.p50Ns), ("p90Ms", d?.p90Ns),
                                 ("p95Ms", d?.p95Ns), ("p99Ms", d?.p99Ns), ("maxMs", d?.maxNs), ("stddevMs", d?.stddevNs)] {
                if let expected = ms(value) {
                    expectClose(number(j[key]), expected, 1e-15, key)
                } else {
                    #expect(j[key] is NSNull, "\(key) is null without successful measures")
                }
            }
            #expect(j["firstAt"] as? String == st.firstAtNs.map { Timestamp.iso8601(unixNanoseconds: $0, precision: .milliseconds) })
            #expect(j["outliers"] as? Int == (d?.outliers ?? 0))
        }
        let measurements = try #require(root["measurements"] as? [[String: Any]])
        #expect(measurements.count == p.measurements.count)
        for (j, m) in zip(measurements, p.measurements) {
            #expect(j["agent"] as? String == m.stream.agent && j["cli"] as? String == m.stream.cli)
            #expect(number(j["duration"]) == Double(Reference.milliseconds(nanoseconds: m.durationNs)))
            #expect(j["timestamp"] as? String == Timestamp.iso8601(unixNanoseconds: m.wallTimeNs, precision: .milliseconds))
            #expect(j["success"] as? Bool == (m.outcome == .ok))
        }
        let comparisons = try #require(root["comparisons"] as? [[String: Any]])
        #expect(comparisons.map { $0["agent"] as? String } == p.comparisons.map(\.agent))
        #expect(comparisons.map { $0["fastestCli"] as? String } == p.comparisons.map(\.fastestCli))

        let file = sc.dir.path + "/agent-performance.json"
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        let (status, output) = try validateAgainstSchema([file])
        #expect(status == 0, "schema validation: \(output)")
    }

    @Test("the schema rejects a projection that breaks it")
    func schemaCanFail() throws {
        let dir = try TemporaryDirectory()
        let good = #"{"schemaVersion": 1, "generatedAt": "1970-01-01T00:00:00.000Z", "retain": 100, "streams": [], "comparisons": [], "measurements": []}"#
        let bad = [
            #"{"schemaVersion": 2, "generatedAt": "1970-01-01T00:00:00.000Z", "retain": 100, "streams": [], "comparisons": [], "measurements": []}"#,
            #"{"schemaVersion": 1, "generatedAt": "1970-01-01T00:00:00.000Z", "retain": 100, "streams": [], "comparisons": []}"#,
            #"{"schemaVersion": 1, "generatedAt": "yesterday", "retain": 100, "streams": [], "comparisons": [], "measurements": []}"#,
            #"{"schemaVersion": 1, "generatedAt": "1970-01-01T00:00:00.000Z", "retain": 100, "streams": [], "comparisons": [], "measurements": [{"agent": "a", "cli": "c", "duration": -1, "timestamp": "1970-01-01T00:00:00.000Z", "success": true}]}"#,
        ]
        try good.write(toFile: dir.path + "/good.json", atomically: false, encoding: .utf8)
        #expect(try validateAgainstSchema([dir.path + "/good.json"]).status == 0)
        for (i, text) in bad.enumerated() {
            try text.write(toFile: dir.path + "/bad\(i).json", atomically: false, encoding: .utf8)
            #expect(try validateAgainstSchema([dir.path + "/bad\(i).json"]).status != 0, "bad\(i) passes")
        }
    }

    @Test("the exact text: layout, key order, minimal numbers, escapes, nulls")
    func golden() throws {
        let dir = try TemporaryDirectory()
        var options = EventLog.Options()
        options.retain = 2
        let log = try EventLog(path: dir.path + "/log", options: options)
        let t0: Int64 = 1_768_855_824_123_456_789  // 2026-01-19T20:50:24.123456789Z
        let fast = try StreamName(agent: "plan \"A\", ü", cli: "codex")
        let slow = try StreamName(agent: "plan \"A\", ü", cli: "claude")
        let broken = try StreamName(agent: "plan \"A\", ü", cli: "zz")
        try log.append([
            .measure(slow, invocation: InvocationID(rawValue: 1), durationNs: 7, outcome: .ok, wallTimeNs: t0, pid: 1),  // evicted
            .measure(slow, invocation: InvocationID(rawValue: 2), durationNs: 10_000_000_000_000, outcome: .ok, wallTimeNs: t0 + 1_000_000, pid: 1),
            .measure(slow, invocation: InvocationID(rawValue: 3), durationNs: 10_000_000_000_000, outcome: .ok, wallTimeNs: t0 + 2_000_000, pid: 1),
            .measure(fast, invocation: InvocationID(rawValue: 4), durationNs: 1000, outcome: .ok, wallTimeNs: t0 + 1_500_000, pid: 1),
            .measure(broken, invocation: InvocationID(rawValue: 5), durationNs: 1_499, outcome: .failed, wallTimeNs: t0 + 3_000_000, pid: 1),
            .mark(broken, invocation: InvocationID(rawValue: 6), wallTimeNs: t0 - 2 * 3_600_000_000_000, pid: 1),
        ])
        let p = try log.read { try Projector.project($0, now: t0) }
        let expected = """
            {
              "schemaVersion": 1,
              "generatedAt": "2026-01-19T18:50:24.123Z",
              "retain": 2,
              "streams": [
                { "agent": "plan \\"A\\", ü", "cli": "claude", "count": 2, "failures": 0, "inFlight": 0, "abandoned": 0, "meanMs": 10000000, "minMs": 10000000, "p50Ms": 10000000, "p90Ms": 10000000, "p99Ms": 10000000, "maxMs": 10000000, "stddevMs": 0, "firstAt": "2026-01-19T20:50:24.124Z", "lastAt": "2026-01-19T20:50:24.125Z", "p95Ms": 10000000, "outliers": 0, "total": 3, "totalFailures": 0 },
                { "agent": "plan \\"A\\", ü", "cli": "codex", "count": 1, "failures": 0, "inFlight": 0, "abandoned": 0, "meanMs": 0.001, "minMs": 0.001, "p50Ms": 0.001, "p90Ms": 0.001, "p99Ms": 0.001, "maxMs": 0.001, "stddevMs": 0, "firstAt": "2026-01-19T20:50:24.124Z", "lastAt": "2026-01-19T20:50:24.124Z", "p95Ms": 0.001, "outliers": 0, "total": 1, "totalFailures": 0 },
                { "agent": "plan \\"A\\", ü", "cli": "zz", "count": 1, "failures": 1, "inFlight": 1, "abandoned": 1, "meanMs": null, "minMs": null, "p50Ms": null, "p90Ms": null, "p99Ms": null, "maxMs": null, "stddevMs": null, "firstAt": "2026-01-19T20:50:24.126Z", "lastAt": "2026-01-19T20:50:24.126Z", "p95Ms": null, "outliers": 0, "total": 1, "totalFailures": 1 }
              ],
              "comparisons": [
                { "agent": "plan \\"A\\", ü", "fastestCli": "codex", "byCli": [{ "cli": "codex", "meanMs": 0.001, "relative": 1, "relativeUncertainty": null, "pValue": null }, { "cli": "claude", "meanMs": 10000000, "relative": 10000000000, "relativeUncertainty": null, "pValue": null }, { "cli": "zz", "meanMs": null, "relative": null, "relativeUncertainty": null, "pValue": null }] }
              ],
              "measurements": [
                { "agent": "plan \\"A\\", ü", "cli": "claude", "duration": 10000000, "timestamp": "2026-01-19T20:50:24.124Z", "success": true },
                { "agent": "plan \\"A\\", ü", "cli": "codex", "duration": 0.001, "timestamp": "2026-01-19T20:50:24.124Z", "success": true },
                { "agent": "plan \\"A\\", ü", "cli": "claude", "duration": 10000000, "timestamp": "2026-01-19T20:50:24.125Z", "success": true },
                { "agent": "plan \\"A\\", ü", "cli": "zz", "duration": 0.001, "timestamp": "2026-01-19T20:50:24.126Z", "success": false }
              ]
            }

            """
        #expect(p.json == expected)

        let empty = try EventLog(path: dir.path + "/empty")
        let none = try empty.read { try Projector.project($0, now: t0) }
        #expect(none.json == """
            {
              "schemaVersion": 1,
              "generatedAt": "1970-01-01T00:00:00.000Z",
              "retain": 100,
              "streams": [],
              "comparisons": [],
              "measurements": []
            }

            """)
        try p.json.write(toFile: dir.path + "/golden.json", atomically: false, encoding: .utf8)
        try none.json.write(toFile: dir.path + "/empty.json", atomically: false, encoding: .utf8)
        let (status, output) = try validateAgainstSchema([dir.path + "/golden.json", dir.path + "/empty.json"])
        #expect(status == 0, "schema validation: \(output)")
    }

    @Test("numbers: halves of a microsecond round up, six decimals for ratios")
    func numbers() {
        func text(_ body: (inout JSONBuffer) -> Void) -> String {
            var b = JSONBuffer(capacity: 16)
            body(&b)
            return String(decoding: b.bytes, as: UTF8.self)
        }
        #expect(text { $0.milliseconds(nanoseconds: 812_413_499) } == "812.413")
        #expect(text { $0.milliseconds(nanoseconds: 812_413_500) } == "812.414")
        #expect(text { $0.milliseconds(nanoseconds: 0) } == "0")
        #expect(text { $0.milliseconds(nanoseconds: 1_000_000_000) } == "1000")
        #expect(text { $0.milliseconds(nanoseconds: 10_000_000_000_000) } == "10000000")
        #expect(text { $0.milliseconds(nanoseconds: 1_000) } == "0.001")
        #expect(text { $0.milliseconds(nanoseconds: 10_000) } == "0.01")
        #expect(text { $0.milliseconds(812_413_500.0) } == "812.414")
        #expect(text { $0.milliseconds(499.999) } == "0")
        #expect(text { $0.milliseconds(nil) } == "null")
        #expect(text { $0.milliseconds(Double.nan) } == "null")
        #expect(text { $0.fixed6(1.16) } == "1.16")
        #expect(text { $0.fixed6(1) } == "1")
        #expect(text { $0.fixed6(0.0000004) } == "0")
        #expect(text { $0.fixed6(0.0000005) } == "0.000001")
        #expect(text { $0.uint(UInt64.max) } == "18446744073709551615")
        for ns in [UInt64(0), 1, 499, 500, 999, 1000, 1499, 1500, 123_456_789, 10_000_000_000_000, UInt64.max] {
            #expect(text { $0.milliseconds(nanoseconds: ns) } == Reference.milliseconds(nanoseconds: ns), "\(ns)")
        }
    }

    @Test("timestamps and quoted names match the shared formatters", arguments: Array(UInt64(1)...4))
    func formattersAgree(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        var b = JSONBuffer(capacity: 1 << 16)
        var expected = ""
        for i in 0..<2000 {
            let ns: Int64 = switch i % 4 {
            case 0: Int64.random(in: -2_000_000_000_000_000_000...4_000_000_000_000_000_000, using: &rng)
            case 1: Int64.random(in: Int64.min...Int64.max, using: &rng)
            default: 1_768_855_824_000_000_000 + Int64.random(in: 0...200_000_000_000_000, using: &rng)
            }
            b.timestamp(ns)
            expected += "\"" + Timestamp.iso8601(unixNanoseconds: ns, precision: .milliseconds) + "\""
        }
        let alphabet: [Character] = ["a", "\"", "\\", "\u{01}", "\u{1F}", " ", ",", "ü", "計", "🚀", "\u{7F}", "\n"]
        for _ in 0..<500 {
            let s = String((0..<Int.random(in: 0...12, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! })
            b.quoted(s)
            expected += Reference.quoted(s)
        }
        #expect(String(decoding: b.bytes, as: UTF8.self) == expected)
    }

    @Test("two projections of the same log are byte-identical, whenever they are made")
    func byteIdentical() throws {
        let dir = try TemporaryDirectory()
        let (a, now) = try {
            let sc = try ProjectionScenario(seed: 99, in: dir)
            return (try sc.log.read { try Projector.project($0, now: sc.now) }.jsonBytes, sc.now)
        }()
        // Reopened (the first handle is closed: LMDB wants one per process), and later: a
        // `now` that abandons no further mark changes nothing.
        let reopened = try EventLog(path: dir.path + "/log")
        let b = try reopened.read { try Projector.project($0, now: now + 1_000_000) }.jsonBytes
        #expect(a == b)
    }

    @Test("written atomically, only when the log changed; rewritten after a commit, a deletion or an edit")
    func writeOnlyWhenChanged() throws {
        let sc = try ProjectionScenario(seed: 7)
        let out = sc.dir.path + "/agent-performance.json"
        #expect(try Projector.write(log: sc.log, to: out, now: sc.now) == .written)
        let first = try #require(fileVersion(out))
        let text = try Data(contentsOf: URL(fileURLWithPath: out))
        #expect(Array(text) == (try sc.log.read { try Projector.project($0, now: sc.now) }.jsonBytes))

        #expect(try Projector.write(log: sc.log, to: out, now: sc.now + 1_000_000_000) == .unchanged)
        #expect(try #require(fileVersion(out)) == first)
        // Another spelling of the same path shares its checkpoint.
        #expect(try Projector.write(log: sc.log, to: sc.dir.path + "/../" + (sc.dir.path as NSString).lastPathComponent
                                    + "/./agent-performance.json", now: sc.now) == .unchanged)
        #expect(try #require(fileVersion(out)) == first)
        #expect(try Projector.write(log: sc.log, to: out, now: sc.now, force: true) == .written)
        #expect(try Projector.write(log: sc.log, to: out, now: sc.now) == .unchanged)

        // A new event changes the projection.
        let s = try StreamName(agent: "planner", cli: "claude")
        try sc.log.append([.measure(s, invocation: .random(), durationNs: 42_000_000, outcome: .ok, wallTimeNs: sc.now, pid: 1)])
        #expect(try Projector.write(log: sc.log, to: out, now: sc.now) == .written)
        let after = try Data(contentsOf: URL(fileURLWithPath: out))
        #expect(after != text)
        #expect(after.range(of: Data("\"duration\": 42,".utf8)) != nil)
        #expect(try Projector.write(log: sc.log, to: out, now: sc.now) == .unchanged)

        // The file deleted, or edited behind the projector's back: written again.
        try FileManager.default.removeItem(atPath: out)
        #expect(try Projector.write(log: sc.log, to: out, now: sc.now) == .written)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("x".utf8))
        try handle.close()
        #expect(try Projector.write(log: sc.log, to: out, now: sc.now) == .written)
        #expect(try Data(contentsOf: URL(fileURLWithPath: out)) == after)

        // No temporary file is left behind.
        let names = try FileManager.default.contentsOfDirectory(atPath: sc.dir.path).sorted()
        #expect(names == ["agent-performance.json", "log"])
    }

    @Test("the checkpoint in the log spares the projection while the log and the file are as written")
    func checkpointIsUsed() throws {
        let sc = try ProjectionScenario(seed: 11)
        let out = sc.dir.path + "/agent-performance.json"
        #expect(try Projector.write(log: sc.log, to: out, now: sc.now) == .written)
        let written = try Data(contentsOf: URL(fileURLWithPath: out))
        let version = try #require(fileVersion(out))
        // Change a byte in place and put the modification time back: the file keeps its
        // identity, so only a projector that trusts its checkpoint leaves it alone.
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        try handle.seek(toOffset: 0)
        try handle.write(contentsOf: Data(" ".utf8))
        try handle.close()
        var times = [timespec(tv_sec: version.seconds, tv_nsec: version.nanoseconds),
                     timespec(tv_sec: version.seconds, tv_nsec: version.nanoseconds)]
        #expect(utimensat(AT_FDCWD, out, &times, 0) == 0)
        #expect(try Projector.write(log: sc.log, to: out, now: sc.now) == .unchanged)
        #expect(try Data(contentsOf: URL(fileURLWithPath: out)) != written)
        // Other options make other bytes: the checkpoint does not match them.
        var options = Projector.Options()
        options.measurements = false
        #expect(try Projector.write(log: sc.log, to: out, now: sc.now, options: options) == .written)
        #expect(try Projector.write(log: sc.log, to: out, now: sc.now, options: options) == .unchanged)
        #expect(try Projector.write(log: sc.log, to: out, now: sc.now) == .written)
        #expect(try Data(contentsOf: URL(fileURLWithPath: out)) == written)

        let checkpoint = try #require(try sc.log.read { try $0.projectionCheckpoint(ProjectionCheckpoint.key(for: Projector.canonicalPath(out))) })
        #expect(checkpoint.lastSeq == (try sc.log.read { try $0.lastSeq() }))
        #expect(checkpoint.encoded.withUnsafeBytes { ProjectionCheckpoint($0) } == checkpoint)
    }

    @Test("a mark becoming abandoned is a change; time passing otherwise is not")
    func abandonment() throws {
        let dir = try TemporaryDirectory()
        let log = try EventLog(path: dir.path + "/log")
        let out = dir.path + "/out.json"
        let s = try StreamName(agent: "coder", cli: "codex")
        let t: Int64 = 1_768_855_824_000_000_000
        let minute: Int64 = 60_000_000_000
        try log.append([.mark(s, invocation: .random(), wallTimeNs: t, pid: 1)])
        #expect(try Projector.write(log: log, to: out, now: t + minute) == .written)
        #expect(try Projector.write(log: log, to: out, now: t + 59 * minute) == .unchanged)
        #expect(try Projector.write(log: log, to: out, now: t + 61 * minute) == .written)
        let text = try String(contentsOfFile: out, encoding: .utf8)
        #expect(text.contains("\"inFlight\": 1, \"abandoned\": 1,"))
        #expect(try Projector.write(log: log, to: out, now: t + 120 * minute) == .unchanged)
    }

    @Test("a read-only log stores no checkpoint and compares bytes instead")
    func readOnlyLog() throws {
        let dir = try TemporaryDirectory()
        let now = try ProjectionScenario(seed: 3, in: dir).now  // written, then closed
        let out = dir.path + "/ro.json"
        let key = ProjectionCheckpoint.key(for: Projector.canonicalPath(out))
        let first = try {
            var options = EventLog.Options()
            options.readOnly = true
            let log = try EventLog(path: dir.path + "/log", options: options)
            #expect(try Projector.write(log: log, to: out, now: now) == .written)
            let first = try #require(fileVersion(out))
            #expect(try Projector.write(log: log, to: out, now: now) == .unchanged)
            #expect(try #require(fileVersion(out)) == first)
            #expect(try log.read { try $0.projectionCheckpoint(key) } == nil)
            return first
        }()
        // A writable log adopts the identical file without rewriting it.
        let log = try EventLog(path: dir.path + "/log")
        #expect(try Projector.write(log: log, to: out, now: now) == .unchanged)
        #expect(try log.read { try $0.projectionCheckpoint(key) } != nil)
        #expect(try #require(fileVersion(out)) == first)
        #expect(try Projector.write(log: log, to: out, now: now) == .unchanged)
    }

    @Test("a missing directory is a cannotWrite error; the log is untouched")
    func unwritable() throws {
        let sc = try ProjectionScenario(seed: 5)
        let out = sc.dir.path + "/missing/agent-performance.json"
        let error = #expect(throws: PerfLogError.self) {
            try Projector.write(log: sc.log, to: out, now: sc.now)
        }
        guard case .cannotWrite(let path, _, let code)? = error else { Issue.record("\(String(describing: error))"); return }
        #expect(path == out)
        #expect(code.rawValue == ENOENT)
        #expect(try sc.log.read { try $0.verify() } == [])
    }

    @Test("evicted measures still stored are not counted")
    func garbageIsSkipped() throws {
        let dir = try TemporaryDirectory()
        var options = EventLog.Options()
        options.retain = 3
        let log = try EventLog(path: dir.path + "/log", options: options)
        let a = try StreamName(agent: "a", cli: "one"), b = try StreamName(agent: "a", cli: "two")
        // A quiet stream's measure, live at the old end of the timeline, holds collection back.
        let quiet = try StreamName(agent: "q", cli: "quiet")
        try log.append([.measure(quiet, invocation: .random(), durationNs: 1, outcome: .ok, wallTimeNs: -1, pid: 1)])
        for i in 0..<300 {
            try log.append([.measure(i % 2 == 0 ? a : b, invocation: .random(), durationNs: UInt64(i), outcome: .ok,
                                     wallTimeNs: Int64(i), pid: 1)])
        }
        let stored = try log.environment.read { txn in try txn.statistics(log.dbs.events).entries }
        #expect(stored > 100, "the scenario leaves garbage to skip")
        let p = try log.read { try Projector.project($0, now: 0) }
        #expect(p.streams.map(\.count) == [3, 3, 1])
        #expect(p.measurements.map(\.durationNs) == [1, 294, 295, 296, 297, 298, 299])
        #expect(p.streams[0].durations?.meanNs == 296)
    }
}

extension Reference {
    /// A duration as JSON milliseconds, from the definition: round to the microsecond
    /// (halves up), then the integer part and, when not zero, the fraction without
    /// trailing zeros.
    static func milliseconds(nanoseconds ns: UInt64) -> String {
        let us = ns / 1000 + (ns % 1000 >= 500 ? 1 : 0)
        let whole = String(us / 1000), fraction = us % 1000
        guard fraction != 0 else { return whole }
        var digits = String(fraction)
        digits = String(repeating: "0", count: 3 - digits.count) + digits
        while digits.hasSuffix("0") { digits.removeLast() }
        return whole + "." + digits
    }

    /// A JSON string literal, scalar by scalar: `"` and `\` escaped, control characters
    /// below U+0020 as `\u00xx`, everything else as it is.
    static func quoted(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar.value {
            case 0x22: out += "\\\""
            case 0x5C: out += "\\\\"
            case 0..<0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u00" + (hex.count < 2 ? "0" : "") + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
