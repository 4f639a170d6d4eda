// The HTML report (`perflog report`, and `GET /` of `perflog serve --http`): one page,
// self-contained (inline CSS, inline SVG, a little inline script; nothing fetched from
// the network, no `http:` or `https:` reference anywhere in it), that answers "which
// CLI should this agent use" and "did it get slower" by looking.
//
// Every figure on the page is one of the projection's, the same that
// agent-performance.json holds: elements that show one carry `data-field` (the file's
// key) and `data-v` (the value exactly as the file writes it), so that a test, a script
// or the live page's refresh can read and compare them; the text shown is the same
// value in readable units.

/// Renders a ``Projection`` as a self-contained HTML page.
public enum HTMLReport {
    /// What the page shows beyond the projection, and how much of a large log.
    public struct Options: Sendable, Hashable {
        /// The page's title and heading.
        public var title = "perflog report"
        /// The log's path, shown in the header; `nil` to leave it out.
        public var logPath: String?
        /// What the projection was limited to, as typed (`--agent planner --since 2h`),
        /// shown in the header; `nil` for the whole log.
        public var scope: String?
        /// An earlier projection to show the change against; `nil` for no change section.
        public var baseline: ReportBaseline?
        /// How to name the baseline (its file name), shown with the change section.
        public var baselineName: String?
        /// Whether the page refreshes its figures from the service that served it
        /// (`GET streams` and `GET healthz`, relative to the page) every
        /// ``refreshSeconds``.
        public var live = false
        /// How often the live page refreshes, seconds.
        public var refreshSeconds = 3
        /// The most streams the overview lists; beyond it the streams with the most
        /// measures in their window are listed and the page says how many are not.
        public var overviewLimit = 1_000
        /// The most streams drawn in detail (distribution, durations over time): the
        /// first of the overview's.
        public var detailLimit = 50
        /// The most agents whose CLIs are compared side by side.
        public var comparisonLimit = 50

        /// The defaults: a static page; a log of up to 50 streams shown whole.
        public init() {}
    }

    /// The page for `projection` as UTF-8 bytes.
    public static func render(_ projection: Projection, options: Options = Options()) -> [UInt8] {
        var page = Page(projection: projection, options: options)
        page.write()
        return Array(page.out.utf8)
    }
}

/// Builds one page into a string.
private struct Page {
    let p: Projection
    let options: HTMLReport.Options
    var out = ""
    /// The streams the overview lists, in its order (indexes into `p.streams`).
    let listed: [Int]
    /// Each stream's retained measures, oldest first, for the streams drawn in detail.
    var measuresOf: [Int: [RetainedMeasure]] = [:]

    init(projection: Projection, options: HTMLReport.Options) {
        p = projection
        self.options = options
        let all = Array(projection.streams.indices)
        if all.count <= options.overviewLimit {
            listed = all
        } else {
            // Too many to list: the busiest (ties in the log's order), then the
            // overview's usual order among them.
            listed = all.sorted { a, b in
                let ca = projection.streams[a].count, cb = projection.streams[b].count
                return ca != cb ? ca > cb : a < b
            }.prefix(options.overviewLimit).sorted()
        }
        let detailed = Set(listed.prefix(options.detailLimit))
        var byName: [StreamName: Int]?
        for m in projection.measurements {
            var k = Int(m.streamIndex)
            if k < 0 || k >= projection.streams.count || projection.streams[k].stream != m.stream {
                if byName == nil {
                    byName = Dictionary(projection.streams.enumerated().map { ($1.stream, $0) }, uniquingKeysWith: { a, _ in a })
                }
                k = byName?[m.stream] ?? -1
            }
            if detailed.contains(k) { measuresOf[k, default: []].append(m) }
        }
        out.reserveCapacity(4096 + listed.count * 700 + detailed.count * 12_000)
    }

    mutating func write() {
        out += "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        // Nothing may load from anywhere: the page is its own file.
        out += "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; connect-src 'self'\">\n"
        out += "<title>\(esc(options.title))</title>\n<style>\n\(ReportAssets.css)</style>\n</head>\n"
        out += "<body"
        if options.live { out += " data-live=\"\(max(1, options.refreshSeconds))\"" }
        out += ">\n"
        header()
        overview()
        comparisons()
        if let baseline = options.baseline { change(baseline) }
        details()
        out += "<footer><p>Made by perflog from agent-performance.json's projection: every figure here is the file's. "
        out += "Durations are over each stream's successful runs; a fast crash is not a fast run.</p></footer>\n"
        out += "<script>\n\(ReportAssets.script)</script>\n</body>\n</html>\n"
    }

    // MARK: Header

    mutating func header() {
        let measures = p.streams.reduce(0) { $0 + $1.count }
        out += "<header>\n<h1>\(esc(options.title))</h1>\n<p class=\"meta\">"
        var parts: [String] = []
        if let path = options.logPath { parts.append("log <code>\(esc(path))</code>") }
        if let scope = options.scope, !scope.isEmpty { parts.append("limited to <code>\(esc(scope))</code>") }
        parts.append("newest event <time id=\"generated\" data-field=\"generatedAt\" data-v=\"\(iso(p.generatedAtNs))\">\(iso(p.generatedAtNs))</time>")
        parts.append("window of \(p.retain) measures a stream")
        parts.append("<span data-field=\"streams\" data-v=\"\(p.streams.count)\">\(p.streams.count)</span> \(p.streams.count == 1 ? "stream" : "streams")")
        parts.append("\(measures) measures")
        out += parts.joined(separator: " · ") + "</p>\n"
        if options.live {
            out += "<p class=\"meta\" id=\"live\">live: refreshing every \(max(1, options.refreshSeconds)) s · "
            out += "committed <span id=\"committed\">…</span> · connections <span id=\"connections\">…</span> · "
            out += "updated <span id=\"updated\">not yet</span></p>\n"
        }
        out += "<nav><a href=\"#overview\">Overview</a> <a href=\"#comparisons\">CLIs by agent</a>"
        if options.baseline != nil { out += " <a href=\"#change\">Change</a>" }
        out += " <a href=\"#streams\">Streams</a></nav>\n</header>\n"
    }

    // MARK: Overview

    mutating func overview() {
        out += "<section id=\"overview\">\n<h2>Overview</h2>\n"
        if p.streams.isEmpty {
            out += "<p>The log holds no measures yet.</p>\n</section>\n"
            return
        }
        if listed.count < p.streams.count {
            out += "<p class=\"note\">Listing the \(listed.count) streams with the most measures in their window, of \(p.streams.count). "
            out += "<code>perflog report --agent NAME</code> or <code>perflog stats</code> shows the others.</p>\n"
        }
        out += "<p class=\"note\">Click a column's title to sort by it. The bar shows each stream's range on one "
        out += "scale for all: the line from the fastest to the slowest run, the block from the median (p50) to p95.</p>\n"
        let scale = ReportScale(covering: listed.flatMap { i in
            p.streams[i].durations.map { [$0.minNs, $0.maxNs] } ?? [] }, from: 2, to: 118)
        out += "<table class=\"sortable\" id=\"overview-table\">\n<thead><tr>"
        for (title, kind) in [("Agent", "text"), ("CLI", "text"), ("Count", "num"), ("Failures", "num"), ("In flight", "num"),
                              ("Abandoned", "num"), ("Mean", "num"), ("p50", "num"), ("p95", "num"), ("Distribution", "none")] {
            out += kind == "none" ? "<th>\(title)</th>" : "<th data-sort=\"\(kind)\" tabindex=\"0\">\(title)</th>"
        }
        out += "</tr></thead>\n<tbody>\n"
        for (n, i) in listed.enumerated() {
            let s = p.streams[i]
            let d = s.durations
            out += "<tr class=\"sf\"\(streamAttributes(s.stream))>"
            let link = n < options.detailLimit ? "<a href=\"#s\(i)\">\(esc(s.stream.agent))</a>" : esc(s.stream.agent)
            out += "<td data-v=\"\(esc(s.stream.agent))\">\(link)</td><td data-v=\"\(esc(s.stream.cli))\">\(esc(s.stream.cli))</td>"
            out += count("count", s.count) + count("failures", s.failures, alarm: true) + count("inFlight", s.inFlight)
                + count("abandoned", s.abandoned, alarm: true)
            out += duration("meanMs", d?.meanNs) + duration("p50Ms", d?.p50Ns) + duration("p95Ms", d?.p95Ns)
            out += "<td>" + glyph(s, scale) + "</td></tr>\n"
        }
        out += "</tbody>\n</table>\n</section>\n"
    }

    /// The small range picture of one overview row.
    func glyph(_ s: StreamStatistics, _ scale: ReportScale) -> String {
        guard let d = s.durations else {
            return "<svg class=\"glyph\" width=\"120\" height=\"14\" role=\"img\"><title>no successful run</title>"
                + "<text x=\"2\" y=\"11\" class=\"muted\">no successful run</text></svg>"
        }
        // The title is both the tooltip and the text alternative (an SVG's accessible name).
        let label = "fastest \(readable(d.minNs)), p50 \(readable(d.p50Ns)), p95 \(readable(d.p95Ns)), slowest \(readable(d.maxNs))"
        var g = "<svg class=\"glyph\" width=\"120\" height=\"14\" role=\"img\"><title>\(label)</title>"
        g += "<line x1=\"\(f(scale.position(d.minNs)))\" x2=\"\(f(scale.position(d.maxNs)))\" y1=\"7\" y2=\"7\" class=\"range\"/>"
        let a = scale.position(d.p50Ns), b = scale.position(d.p95Ns)
        g += "<rect x=\"\(f(a))\" y=\"3\" width=\"\(f(max(1.5, b - a)))\" height=\"8\" class=\"box\"/></svg>"
        return g
    }

    // MARK: Comparisons

    mutating func comparisons() {
        out += "<section id=\"comparisons\">\n<h2>CLIs by agent</h2>\n"
        let compared = p.comparisons.filter { $0.byCli.count > 1 }
        let single = p.comparisons.count - compared.count
        if compared.isEmpty {
            out += "<p>No agent has run on more than one CLI"
            out += p.comparisons.isEmpty ? ".</p>\n" : " yet: nothing to compare.</p>\n"
            out += "</section>\n"
            return
        }
        out += "<p class=\"note\">For each agent, its CLIs fastest first: the mean of the successful runs with its "
        out += "≈95% interval (mean ± 1.96 standard errors), the median (|) and p95 (◆). Relative speed is against the "
        out += "fastest, ± one standard error; the p-value is Welch's t-test against the fastest "
        out += "(below 0.05: the difference is unlikely to be chance).\(single == 1 ? " 1 agent with a single CLI is not shown." : single > 1 ? " \(single) agents with a single CLI are not shown." : "")</p>\n"
        let byStream = Dictionary(p.streams.map { ($0.stream, $0) }, uniquingKeysWith: { a, _ in a })
        for c in compared.prefix(options.comparisonLimit) {
            comparison(c, byStream)
        }
        if compared.count > options.comparisonLimit {
            out += "<p class=\"note\">\(compared.count - options.comparisonLimit) more agents with several CLIs: "
            out += "<code>perflog compare --agent NAME</code> compares one.</p>\n"
        }
        out += "</section>\n"
    }

    mutating func comparison(_ c: Comparison, _ byStream: [StreamName: StreamStatistics]) {
        out += "<article class=\"agent\" data-agent=\"\(esc(c.agent))\">\n<h3>\(esc(c.agent))"
        if let fastest = c.fastestCli {
            out += " <span class=\"muted\">fastest: <strong data-field=\"fastestCli\" data-v=\"\(esc(fastest))\">\(esc(fastest))</strong></span>"
        } else {
            out += " <span class=\"muted\" data-field=\"fastestCli\" data-v=\"null\">no CLI has a successful run</span>"
        }
        out += "</h3>\n"
        // The chart: one row per CLI with a mean.
        let stats = c.byCli.map { e in (entry: e, s: (try? StreamName(agent: c.agent, cli: e.cli)).flatMap { byStream[$0] }?.durations) }
        let drawn = stats.compactMap { row in row.s.map { (entry: row.entry, s: $0) } }
        if !drawn.isEmpty {
            var values: [Double] = []
            for (_, d) in drawn {
                values += [d.p50Ns, d.p95Ns, d.meanNs + 1.96 * d.standardErrorNs, max(0, d.meanNs - 1.96 * d.standardErrorNs)]
            }
            let scale = ReportScale(covering: values, from: 130, to: 600)
            let height = 24 * drawn.count + 28
            var desc = "\(c.agent): "
            desc += drawn.map { e, d in "\(e.cli) mean \(readable(d.meanNs)), p50 \(readable(d.p50Ns)), p95 \(readable(d.p95Ns))" }
                .joined(separator: "; ")
            out += "<svg class=\"chart\" viewBox=\"0 0 620 \(height)\" width=\"620\" height=\"\(height)\" role=\"img\" aria-label=\"\(esc(desc))\"><title>\(esc(desc))</title>\n"
            axis(scale, top: 4, bottom: height - 22, vertical: true)
            for (row, (e, d)) in drawn.enumerated() {
                let y = 16 + 24 * row
                let fastest = e.cli == c.fastestCli
                out += "<text x=\"124\" y=\"\(y + 4)\" text-anchor=\"end\" class=\"\(fastest ? "best" : "label")\">\(esc(short(e.cli, 18)))\(fastest ? " ★" : "")</text>"
                let lo = scale.position(max(0, d.meanNs - 1.96 * d.standardErrorNs)), hi = scale.position(d.meanNs + 1.96 * d.standardErrorNs)
                let tip = "\(e.cli): mean \(readable(d.meanNs)) (≈95% \(readable(max(0, d.meanNs - 1.96 * d.standardErrorNs)))–\(readable(d.meanNs + 1.96 * d.standardErrorNs))), p50 \(readable(d.p50Ns)), p95 \(readable(d.p95Ns)), \(d.count) successful runs"
                out += "<g><title>\(esc(tip))</title>"
                out += "<rect x=\"\(f(lo))\" y=\"\(y - 5)\" width=\"\(f(max(1, hi - lo)))\" height=\"10\" class=\"ci\"/>"
                out += "<circle cx=\"\(f(scale.position(d.meanNs)))\" cy=\"\(y)\" r=\"4\" class=\"\(fastest ? "mean best" : "mean")\"/>"
                let m = scale.position(d.p50Ns)
                out += "<line x1=\"\(f(m))\" x2=\"\(f(m))\" y1=\"\(y - 8)\" y2=\"\(y + 8)\" class=\"median\"/>"
                let q = scale.position(d.p95Ns)
                out += "<path d=\"M\(f(q)) \(y - 5)l5 5l-5 5l-5 -5z\" class=\"p95\"/></g>\n"
            }
            out += "</svg>\n"
        }
        out += "<table class=\"compare\">\n<thead><tr><th>CLI</th><th>Successful runs</th><th>Mean</th><th>≈95% interval</th><th>p50</th><th>p95</th><th>Relative</th><th>p-value</th><th>Verdict</th></tr></thead>\n<tbody>\n"
        for (rank, (e, d)) in stats.enumerated() {
            let fastest = e.cli == c.fastestCli
            out += "<tr class=\"cmp\(fastest ? " fastest" : "")\"\(streamAttributes(agent: c.agent, cli: e.cli))>"
            out += "<td>\(esc(e.cli))\(fastest ? " ★" : "")</td><td class=\"num\">\(e.okCount)</td>"
            out += duration("meanMs", e.meanNs)
            if let d {
                out += "<td class=\"num\">\(readable(max(0, d.meanNs - 1.96 * d.standardErrorNs)))–\(readable(d.meanNs + 1.96 * d.standardErrorNs))</td>"
            } else {
                out += "<td class=\"num\">–</td>"
            }
            out += "<td class=\"num\">\(readable(d?.p50Ns))</td><td class=\"num\">\(readable(d?.p95Ns))</td>"
            var relative = e.relative.map { ReadableDuration.fixed($0, digits: 2) + "×" } ?? "–"
            if rank > 0, let u = e.relativeUncertainty { relative += " ± " + ReadableDuration.fixed(u, digits: 2) }
            out += "<td class=\"num\" data-field=\"relative\" data-v=\"\(fixed6(e.relative))\" data-u=\"\(fixed6(e.relativeUncertainty))\">\(relative)</td>"
            let pText = e.pValue.map { $0 < 0.0001 ? "&lt; 0.0001" : ReadableDuration.fixed($0, digits: 4) } ?? "–"
            out += "<td class=\"num\" data-field=\"pValue\" data-v=\"\(fixed6(e.pValue))\">\(pText)</td>"
            let verdict: String
            if e.meanNs == nil {
                verdict = "no successful runs"
            } else if fastest {
                verdict = "fastest"
            } else if let pv = e.pValue {
                verdict = pv < 0.05 ? "slower, significant at 5%" : "not significantly slower"
            } else {
                verdict = "too few runs to test"
            }
            out += "<td>\(verdict)</td></tr>\n"
        }
        out += "</tbody>\n</table>\n</article>\n"
    }

    // MARK: Change against a baseline

    mutating func change(_ baseline: ReportBaseline) {
        out += "<section id=\"change\">\n<h2>Change against the baseline</h2>\n<p class=\"note\">Baseline"
        if let name = options.baselineName { out += " <code>\(esc(name))</code>" }
        if let at = baseline.generatedAtNs { out += ", newest event \(iso(at))" }
        out += ". Change of each stream's mean, with Welch's p-value of the difference: below 0.05 the change is "
        out += "unlikely to be noise.</p>\n"
        let changes = baseline.changes(p)
        guard !changes.isEmpty else {
            out += "<p>No stream has a mean both in the baseline and now.</p>\n</section>\n"
            return
        }
        out += "<table class=\"sortable\" id=\"change-table\">\n<thead><tr><th data-sort=\"text\" tabindex=\"0\">Agent</th><th data-sort=\"text\" tabindex=\"0\">CLI</th>"
        out += "<th data-sort=\"num\" tabindex=\"0\">Baseline mean</th><th data-sort=\"num\" tabindex=\"0\">Mean now</th><th data-sort=\"num\" tabindex=\"0\">Change</th>"
        out += "<th data-sort=\"num\" tabindex=\"0\">p-value</th><th>Verdict</th></tr></thead>\n<tbody>\n"
        for c in changes {
            out += "<tr\(streamAttributes(c.stream))><td>\(esc(c.stream.agent))</td><td>\(esc(c.stream.cli))</td>"
            out += duration("baselineMeanMs", c.before.meanNs) + duration("meanMs", c.meanNs)
            let pct = c.relativeChange.map { ($0 >= 0 ? "+" : "−") + ReadableDuration.fixed(abs($0) * 100, digits: 1) + "%" } ?? "–"
            let changeValue = c.relativeChange.map { String($0) } ?? "null"
            out += "<td class=\"num\" data-field=\"change\" data-v=\"\(changeValue)\">\(pct)</td>"
            out += "<td class=\"num\" data-field=\"pValue\" data-v=\"\(fixed6(c.pValue))\">\(c.pValue.map { $0 < 0.0001 ? "&lt; 0.0001" : ReadableDuration.fixed($0, digits: 4) } ?? "–")</td>"
            let verdict: String
            switch (c.pValue, c.relativeChange) {
            case (let pv?, let r?) where pv < 0.05: verdict = r < 0 ? "<span class=\"good\">faster</span>" : "<span class=\"bad\">slower</span>"
            case (.some, _): verdict = "no significant change"
            default: verdict = "too few runs to test"
            }
            out += "<td>\(verdict)</td></tr>\n"
        }
        out += "</tbody>\n</table>\n"
        let gone = baseline.streams.keys.filter { name in !p.streams.contains { $0.stream == name } }.count
        let new = p.streams.filter { baseline.streams[$0.stream] == nil }.count
        if gone > 0 || new > 0 {
            out += "<p class=\"note\">\(new) streams are new since the baseline; \(gone) of the baseline's are not in this report.</p>\n"
        }
        out += "</section>\n"
    }

    // MARK: Streams in detail

    mutating func details() {
        out += "<section id=\"streams\">\n<h2>Streams</h2>\n"
        let shown = listed.prefix(options.detailLimit)
        if listed.count > shown.count {
            out += "<p class=\"note\">Drawing the first \(shown.count) streams of the overview; <code>perflog report --agent NAME</code> draws the others.</p>\n"
        }
        for i in shown { stream(i) }
        out += "</section>\n"
    }

    mutating func stream(_ i: Int) {
        let s = p.streams[i]
        let d = s.durations
        let measures = measuresOf[i] ?? []
        out += "<article class=\"stream\" id=\"s\(i)\">\n<h3>\(esc(s.stream.agent)) <span class=\"muted\">on</span> \(esc(s.stream.cli))</h3>\n"
        out += "<table class=\"figures sf\"\(streamAttributes(s.stream))>\n<tr><th>Count</th><th>Failures</th><th>In flight</th><th>Abandoned</th><th>Outliers</th>"
        out += "<th>Mean</th><th>Min</th><th>p50</th><th>p90</th><th>p95</th><th>p99</th><th>Max</th><th>Std dev</th></tr>\n<tr>"
        out += count("count", s.count) + count("failures", s.failures, alarm: true) + count("inFlight", s.inFlight)
            + count("abandoned", s.abandoned, alarm: true) + count("outliers", d?.outliers ?? 0)
        out += duration("meanMs", d?.meanNs) + duration("minMs", d?.minNs) + duration("p50Ms", d?.p50Ns) + duration("p90Ms", d?.p90Ns)
            + duration("p95Ms", d?.p95Ns) + duration("p99Ms", d?.p99Ns) + duration("maxMs", d?.maxNs) + duration("stddevMs", d?.stddevNs)
        out += "</tr>\n</table>\n<p class=\"note\">Window from <time data-field=\"firstAt\" data-v=\"\(iso(s.firstAtNs))\">\(iso(s.firstAtNs))</time> "
        out += "to <time data-field=\"lastAt\" data-v=\"\(iso(s.lastAtNs))\">\(iso(s.lastAtNs))</time>. "
        out += "Since the lifetime counters started: <span data-field=\"total\" data-v=\"\(s.total)\">\(s.total)</span> measures, "
        out += "<span data-field=\"totalFailures\" data-v=\"\(s.totalFailures)\">\(s.totalFailures)</span> failed"
        if let started = s.lifetime?.startedNs, started > 0 { out += " (counting since \(iso(started)))" }
        out += ".</p>\n"
        guard !measures.isEmpty else {
            out += "<p>No measure in the window.</p>\n</article>\n"
            return
        }
        distribution(s, measures)
        overTime(s, measures)
        out += "<details><summary>The window's measures as a table</summary>\n<table class=\"measures\"><thead><tr><th>Time (UTC)</th><th>Duration</th><th>Outcome</th></tr></thead><tbody>\n"
        for m in measures.reversed() {
            out += "<tr><td>\(iso(m.wallTimeNs))</td><td class=\"num\">\(readable(Double(m.durationNs)))</td><td\(m.outcome == .failed ? " class=\"bad\"" : "")>\(m.outcome == .failed ? "failed" : "ok")</td></tr>\n"
        }
        out += "</tbody></table>\n</details>\n</article>\n"
    }

    /// Every measure of the window on one duration axis; failures on a line of their own.
    mutating func distribution(_ s: StreamStatistics, _ measures: [RetainedMeasure]) {
        let scale = ReportScale(covering: measures.map { Double($0.durationNs) }, from: 70, to: 600)
        let failed = measures.filter { $0.outcome == .failed }
        let height = failed.isEmpty ? 64 : 84
        var desc = "Distribution of \(measures.count) measures of \(s.stream.agent) on \(s.stream.cli)"
        if let d = s.durations { desc += ": p50 \(readable(d.p50Ns)), p95 \(readable(d.p95Ns)), mean \(readable(d.meanNs))" }
        if !failed.isEmpty { desc += "; \(failed.count) failed" }
        if scale.logarithmic { desc += " (logarithmic scale)" }
        out += "<svg class=\"chart\" viewBox=\"0 0 620 \(height)\" width=\"620\" height=\"\(height)\" role=\"img\" aria-label=\"\(esc(desc))\"><title>\(esc(desc))</title>\n"
        axis(scale, top: 4, bottom: height - 22, vertical: true)
        out += "<text x=\"64\" y=\"22\" text-anchor=\"end\" class=\"label\">ok</text>"
        // One path for every tick keeps a large report small; the chart over time below
        // has a tooltip per measure.
        var ticks = ""
        for m in measures where m.outcome == .ok { ticks += "M\(f(scale.position(Double(m.durationNs)))) 10v20" }
        if !ticks.isEmpty { out += "<path d=\"\(ticks)\" class=\"tick\"/>" }
        if let d = s.durations {
            for (value, name) in [(d.p50Ns, "p50"), (d.p95Ns, "p95")] {
                let x = f(scale.position(value))
                out += "<line x1=\"\(x)\" x2=\"\(x)\" y1=\"6\" y2=\"34\" class=\"marker\"><title>\(name) \(readable(value))</title></line>"
                out += "<text x=\"\(x)\" y=\"\(name == "p50" ? 44 : 44)\" text-anchor=\"middle\" class=\"small\">\(name)</text>"
            }
            out += "<circle cx=\"\(f(scale.position(d.meanNs)))\" cy=\"20\" r=\"3.5\" class=\"mean\"><title>mean \(readable(d.meanNs))</title></circle>"
        }
        if !failed.isEmpty {
            out += "<text x=\"64\" y=\"58\" text-anchor=\"end\" class=\"label bad\">failed</text>"
            for m in failed {
                let x = scale.position(Double(m.durationNs))
                out += "<path d=\"M\(f(x - 3)) 51l6 6m0 -6l-6 6\" class=\"fail\"><title>\(iso(m.wallTimeNs)): failed after \(readable(Double(m.durationNs)))</title></path>"
            }
        }
        out += "\n</svg>\n"
    }

    /// The window's durations by their time; failures marked.
    mutating func overTime(_ s: StreamStatistics, _ measures: [RetainedMeasure]) {
        let scale = ReportScale(covering: measures.map { Double($0.durationNs) }, from: 130, to: 8)
        let first = measures.map(\.wallTimeNs).min() ?? 0, last = measures.map(\.wallTimeNs).max() ?? 0
        let span = Double(max(1, last - first))
        func x(_ t: Int64) -> Double { 70 + 530 * (last > first ? Double(t - first) / span : 0.5) }
        let failures = measures.filter { $0.outcome == .failed }.count
        let desc = "Durations of \(s.stream.agent) on \(s.stream.cli) over time, \(iso(first)) to \(iso(last)): \(measures.count) measures, \(failures) failed (×)\(scale.logarithmic ? ", logarithmic scale" : "")"
        out += "<svg class=\"chart\" viewBox=\"0 0 620 160\" width=\"620\" height=\"160\" role=\"img\" aria-label=\"\(esc(desc))\"><title>\(esc(desc))</title>\n"
        for t in scale.ticks {
            let y = f(scale.position(t))
            out += "<line x1=\"70\" x2=\"600\" y1=\"\(y)\" y2=\"\(y)\" class=\"grid\"/><text x=\"64\" y=\"\(y)\" dy=\"4\" text-anchor=\"end\" class=\"small\">\(scale.label(t))</text>"
        }
        out += "<text x=\"70\" y=\"152\" class=\"small\">\(iso(first))</text><text x=\"600\" y=\"152\" text-anchor=\"end\" class=\"small\">\(iso(last))</text>\n"
        for m in measures {
            let cx = f(x(m.wallTimeNs)), cy = scale.position(Double(m.durationNs))
            let tip = "\(iso(m.wallTimeNs)): \(m.outcome == .failed ? "failed after " : "")\(readable(Double(m.durationNs)))"
            if m.outcome == .failed {
                out += "<path d=\"M\(f(x(m.wallTimeNs) - 3)) \(f(cy - 3))l6 6m0 -6l-6 6\" class=\"fail\"><title>\(tip)</title></path>"
            } else {
                out += "<circle cx=\"\(cx)\" cy=\"\(f(cy))\" r=\"2.2\" class=\"dot\"><title>\(tip)</title></circle>"
            }
        }
        out += "\n</svg>\n"
    }

    /// A duration axis: ticks with labels along the bottom (`vertical` grid lines).
    mutating func axis(_ scale: ReportScale, top: Int, bottom: Int, vertical: Bool) {
        for t in scale.ticks {
            let x = f(scale.position(t))
            out += "<line x1=\"\(x)\" x2=\"\(x)\" y1=\"\(top)\" y2=\"\(bottom)\" class=\"grid\"/>"
            out += "<text x=\"\(x)\" y=\"\(bottom + 14)\" text-anchor=\"middle\" class=\"small\">\(scale.label(t))</text>"
        }
        out += "\n"
    }

    // MARK: Cells

    func streamAttributes(_ s: StreamName) -> String { streamAttributes(agent: s.agent, cli: s.cli) }

    func streamAttributes(agent: String, cli: String) -> String {
        " data-agent=\"\(esc(agent))\" data-cli=\"\(esc(cli))\""
    }

    /// A count cell; `alarm` marks a nonzero one (failures, abandoned).
    func count(_ field: String, _ n: Int, alarm: Bool = false) -> String {
        "<td class=\"num\(alarm && n > 0 ? " bad" : "")\" data-field=\"\(field)\" data-v=\"\(n)\">\(n)</td>"
    }

    /// A duration cell: the file's milliseconds in `data-v`, readable units shown.
    func duration(_ field: String, _ ns: Double?) -> String {
        "<td class=\"num\" data-field=\"\(field)\" data-v=\"\(ms(ns))\">\(readable(ns))</td>"
    }

    func ms(_ ns: Double?) -> String { JSONBuffer.text { $0.milliseconds(ns) } }
    func fixed6(_ v: Double?) -> String { JSONBuffer.text { $0.fixed6(v) } }
    func readable(_ ns: Double?) -> String { ns.map { ReadableDuration.text(nanoseconds: $0) } ?? "–" }
    /// A time as the file writes it, unquoted; `null` without one.
    func iso(_ ns: Int64?) -> String {
        ns.map { Timestamp.iso8601(unixNanoseconds: $0, precision: .milliseconds) } ?? "null"
    }
    func f(_ v: Double) -> String { ReadableDuration.fixed(max(0, v), digits: 1) }
    func short(_ s: String, _ n: Int) -> String { s.count <= n ? s : String(s.prefix(n - 1)) + "…" }
}

/// `s` with `&`, `<`, `>`, `"` and `'` escaped, for HTML text and attribute values.
private func esc(_ s: String) -> String {
    guard s.utf8.contains(where: { $0 == 0x26 || $0 == 0x3C || $0 == 0x3E || $0 == 0x22 || $0 == 0x27 }) else { return s }
    var out = ""
    out.reserveCapacity(s.utf8.count + 16)
    for c in s.unicodeScalars {
        switch c {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&#39;"
        default: out.unicodeScalars.append(c)
        }
    }
    return out
}
