@testable import PerfLog
import PerfLogTestSupport
import Testing

/// The `data-field="…" data-v="…"` pairs of the element of `html` that starts at the
/// first occurrence of `marker`, up to the next element opening with the same tag.
private func figures(in html: String, after marker: String, until end: String) -> [String: String] {
    guard let start = html.range(of: marker) else { return [:] }
    let rest = html[start.lowerBound...]
    let stop = rest.range(of: end)?.lowerBound ?? rest.endIndex
    var out: [String: String] = [:]
    var scan = rest[..<stop]
    while let f = scan.range(of: "data-field=\"") {
        let name = scan[f.upperBound...].prefix { $0 != "\"" }
        guard let v = scan[f.upperBound...].range(of: "data-v=\"") else { break }
        out[String(name)] = String(scan[v.upperBound...].prefix { $0 != "\"" })
        scan = scan[v.upperBound...]
    }
    return out
}

@Suite("HTML report")
struct HTMLReportTests {
    @Test("every stream's figures are the JSON's, in the overview and in detail", arguments: Array(UInt64(1)...4))
    func figuresAreTheJSONs(seed: UInt64) throws {
        let sc = try ProjectionScenario(seed: seed)
        let p = try sc.log.read { try Projector.project($0, now: sc.now) }
        let html = String(decoding: HTMLReport.render(p), as: UTF8.self)
        for (i, s) in p.streams.enumerated() {
            let overview = figures(in: html, after: "<tr class=\"sf\" data-agent=\"\(escaped(s.stream.agent))\" data-cli=\"\(escaped(s.stream.cli))\"",
                                   until: "</tr>")
            let detail = figures(in: html, after: "<article class=\"stream\" id=\"s\(i)\"", until: "</article>")
            // The stream's line of agent-performance.json.
            let line = s.jsonObject
            for (field, value) in overview.merging(detail, uniquingKeysWith: { a, _ in a }) {
                let text = value == "null" ? "null" : (field == "firstAt" || field == "lastAt") ? "\"\(value)\"" : value
                #expect(line.contains("\"\(field)\": \(text),") || line.contains("\"\(field)\": \(text) }"),
                        "\(s.stream) \(field)=\(value) is not in \(line)")
            }
            #expect(overview.keys.sorted() == ["abandoned", "count", "failures", "inFlight", "meanMs", "p50Ms", "p95Ms"])
            #expect(detail.count == 17, "\(detail.keys.sorted())")
        }
    }

    private func escaped(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
            .replacingOccurrences(of: "'", with: "&#39;")
    }

    @Test("self-contained: no reference that leaves the file; names are escaped; live only when asked")
    func selfContained() throws {
        let sc = try ProjectionScenario(seed: 3)
        let p = try sc.log.read { try Projector.project($0, now: sc.now) }
        let page = String(decoding: HTMLReport.render(p), as: UTF8.self)
        for forbidden in ["http:", "https:", "src=", "@import", "url(", "<link", "//fonts"] {
            let found = page.contains(forbidden)
            #expect(!found, "\(forbidden)")
        }
        #expect(page.contains("say &quot;hi&quot;, then"))
        #expect(!page.contains("say \"hi\""))
        #expect(page.contains("<body>\n") && !page.contains("<body data-live"))
        var options = HTMLReport.Options()
        options.live = true
        options.refreshSeconds = 5
        #expect(String(decoding: HTMLReport.render(p, options: options), as: UTF8.self).contains("<body data-live=\"5\">"))
    }

    @Test("a large log: the overview ranks the busiest streams, the details stop at their limit, the page says so")
    func limits() throws {
        var streams: [StreamStatistics] = []
        for i in 0..<30 {
            let name = try StreamName(agent: "agent\(100 + i)", cli: "cli")
            streams.append(StreamStatistics(stream: name, count: i, failures: 0, inFlight: 0, abandoned: 0,
                                            sortedOk: (0..<i).map { UInt64($0 + 1) * 1_000_000 }, firstAtNs: 0, lastAtNs: 0))
        }
        let p = Projection(generatedAtNs: 0, retain: 100, lastSeq: 0, streams: streams,
                           comparisons: Projector.comparisons(streams), measurements: [])
        var options = HTMLReport.Options()
        options.overviewLimit = 10
        options.detailLimit = 4
        let page = String(decoding: HTMLReport.render(p, options: options), as: UTF8.self)
        let rows = page.components(separatedBy: "<tr class=\"sf\"").count - 1
        #expect(rows == 10)
        for i in 20..<30 { #expect(page.contains("<tr class=\"sf\" data-agent=\"agent\(100 + i)\"")) }
        #expect(!page.contains("<tr class=\"sf\" data-agent=\"agent119\""))
        #expect(page.components(separatedBy: "<article class=\"stream\"").count - 1 == 4)
        #expect(page.contains("Listing the 10 streams with the most measures in their window, of 30"))
        #expect(page.contains("Drawing the first 4 streams"))
    }

    @Test("duration axes: linear from zero for a narrow range, logarithmic past 20×, round ticks inside the axis",
          arguments: [
              ([1e6, 5e6], false), ([2e8, 3e9], false), ([1e6, 2.1e7], true), ([5e3, 9e10], true), ([0, 1e9], false),
          ] as [([Double], Bool)])
    func axes(values: [Double], logarithmic: Bool) {
        let scale = ReportScale(covering: values, from: 0, to: 100)
        #expect(scale.logarithmic == logarithmic)
        #expect(scale.low <= values.min()! && scale.high >= values.max()!)
        let ticks = scale.ticks
        #expect(ticks.count >= 2 && ticks.count <= 10, "\(ticks)")
        #expect(ticks == ticks.sorted())
        for t in ticks {
            #expect(scale.position(t) >= 0 && scale.position(t) <= 100)
            #expect(!scale.label(t).contains(".000"), "\(scale.label(t))")
        }
        if !logarithmic { #expect(ticks.first == 0) }
    }

    @Test("readable durations", arguments: [
        (850.0, "850 ns"), (12_500, "12.5 µs"), (812_400_000, "812.4 ms"), (81_240_000, "81.24 ms"), (12_350_000_000, "12.35 s"),
        (192_400_000_000, "3m 12.4s"), (3_723_000_000_000, "1h 02m 03s"), (-5, "0 ns"), (.infinity, "–"),
    ] as [(Double, String)])
    func readable(ns: Double, text: String) {
        #expect(ReadableDuration.text(nanoseconds: ns) == text)
    }
}

@Suite("Report baseline")
struct ReportBaselineTests {
    @Test("a projection against itself: no change, nothing significant; against a slower past: faster")
    func changes() throws {
        let sc = try ProjectionScenario(seed: 5)
        let p = try sc.log.read { try Projector.project($0, now: sc.now) }
        let same = try ReportBaseline(json: p.jsonBytes)
        let withMean = p.streams.filter { $0.durations != nil }
        let changes = same.changes(p)
        #expect(changes.map(\.stream) == withMean.map(\.stream))
        for c in changes {
            // The file rounds to the microsecond.
            #expect(abs(c.relativeChange ?? 0) < 1e-3, "\(c.stream)")
            #expect(c.pValue.map { $0 > 0.9 } ?? true, "\(c.stream): \(String(describing: c.pValue))")
        }
        // Twice as slow in the past, with the same spread: now significantly faster.
        var slower = p
        slower.streams = p.streams.map { s in
            var s = s
            if let d = s.durations, d.count >= 5, d.varianceNs2 > 0 {
                s.durations?.meanNs = d.meanNs * 2 + 10 * d.stddevNs
            }
            return s
        }
        let past = try ReportBaseline(json: slower.jsonBytes)
        for c in past.changes(p) {
            guard let d = p.streams.first(where: { $0.stream == c.stream })?.durations, d.count >= 5, d.varianceNs2 > 0 else { continue }
            #expect((c.relativeChange ?? 0) < 0 && (c.pValue ?? 1) < 0.05, "\(c.stream)")
        }
    }

    @Test("what is not an agent-performance.json is refused with the reason", arguments: [
        ("not json", "is not JSON"), ("[]", "must be an agent-performance.json object"),
        ("{\"schemaVersion\": 2, \"streams\": []}", "schema version 1"), ("{\"schemaVersion\": 1}", "no \"streams\" array"),
        ("{\"schemaVersion\": 1, \"streams\": [{\"agent\": \"\"}]}", "stream 1 has no valid agent and cli"),
    ])
    func refused(text: String, reason: String) {
        #expect {
            try ReportBaseline(json: Array(text.utf8))
        } throws: { error in
            guard case .invalidInput(let field, let rule) = error as? PerfLogError else { return false }
            return field == "baseline" && rule.contains(reason)
        }
    }
}
