/// The two text formats Prometheus scrapes.
public enum ExpositionFormat: Sendable, Hashable {
    /// OpenMetrics 1.0 (`application/openmetrics-text`): `# UNIT`, counters' and
    /// histograms' `_created`, ending in `# EOF`.
    case openMetrics
    /// The classic text format 0.0.4 (`text/plain`): no `# UNIT`, no `_created`, no
    /// `# EOF`, and a counter's `# TYPE` names its `_total` sample.
    case classic

    /// The HTTP content type of the format.
    public var contentType: String {
        switch self {
        case .openMetrics: "application/openmetrics-text; version=1.0.0; charset=utf-8"
        case .classic: "text/plain; version=0.0.4; charset=utf-8"
        }
    }
}

/// The metrics of a log as Prometheus reads them (DESIGN.md, "Metrics for
/// Prometheus"): lifetime counters and histograms, which add up across streams and
/// hosts, and the window's figures as gauges.
///
/// Every series carries the constant ``labels`` first, then `agent` and `cli`. The
/// text is built from stream records and the window statistics only, one stream at a
/// time (``stream(_:format:)``), so that a service can keep each stream's text and
/// redo only the streams that changed.
public struct MetricsExposition: Sendable {
    /// The log's histogram bounds.
    public var bounds: BucketBounds
    /// Labels added to every series.
    public var labels: MetricLabels

    /// An exposition over `bounds` with the constant `labels`.
    public init(bounds: BucketBounds, labels: MetricLabels = MetricLabels()) {
        self.bounds = bounds
        self.labels = labels
        leValues = bounds.nanoseconds.map { ns in
            var b = JSONBuffer(capacity: 16)
            b.decimal(ns, places: 9)
            return b.bytes
        } + [Array("+Inf".utf8)]
        var c = JSONBuffer(capacity: 64)
        for (i, label) in labels.labels.enumerated() {
            if i > 0 { c.raw(",") }
            c.raw(label.name)
            c.raw("=\"")
            MetricsExposition.escape(label.value, into: &c)
            c.raw("\"")
        }
        constant = c.bytes
    }

    private let leValues: [[UInt8]]
    /// The constant labels as written, without braces.
    private let constant: [UInt8]

    /// The metric families, in the order the text lists them.
    package enum Family: Int, CaseIterable, Sendable {
        case invocations, duration, windowDuration, windowMeasures, windowFailures, inFlight, abandoned, lastMeasure

        var name: String {
            switch self {
            case .invocations: "perflog_invocations"
            case .duration: "perflog_invocation_duration_seconds"
            case .windowDuration: "perflog_window_duration_seconds"
            case .windowMeasures: "perflog_window_measures"
            case .windowFailures: "perflog_window_failures"
            case .inFlight: "perflog_in_flight"
            case .abandoned: "perflog_abandoned"
            case .lastMeasure: "perflog_last_measure_timestamp_seconds"
            }
        }

        var type: String {
            switch self {
            case .invocations: "counter"
            case .duration: "histogram"
            default: "gauge"
            }
        }

        var unit: String? {
            switch self {
            case .duration, .windowDuration, .lastMeasure: "seconds"
            default: nil
            }
        }

        var help: String {
            switch self {
            case .invocations: "Measured invocations by outcome since the stream's counters started."
            case .duration: "Durations of successful invocations since the stream's counters started."
            case .windowDuration: "Durations of successful invocations over the stream's retained window, by statistic."
            case .windowMeasures: "Measures in the stream's retained window."
            case .windowFailures: "Failed measures in the stream's retained window."
            case .inFlight: "Invocations started and not yet ended."
            case .abandoned: "Invocations in flight for longer than the abandonment timeout."
            case .lastMeasure: "Wall-clock time of the stream's newest retained measure."
            }
        }
    }

    /// One stream's samples, family by family (``Family/abandoned`` excepted: it
    /// changes with the clock, not with the log, and is written by ``render(_:abandoned:format:trailer:ending:emit:)``).
    package struct StreamText: Sendable {
        /// The samples, family after family, each line ending in a line feed.
        package var bytes: [UInt8]
        /// Where each family's samples end in ``bytes``, by ``Family/rawValue``.
        package var ends: [Int]
        /// `constant,agent="…",cli="…"`, for the samples written later.
        package var labels: [UInt8]
    }

    /// The samples of stream `s`. Its counters and histogram are written only when its
    /// lifetime is known and matches ``bounds`` (a log of schema 1 read without being
    /// upgraded has none); a stream without a successful measure has them all the
    /// same, at zero; window durations only when the window has a successful measure.
    package func stream(_ s: StreamStatistics, format: ExpositionFormat) -> StreamText {
        var labels = JSONBuffer(capacity: constant.count + 48)
        labels.raw(constant)
        if !constant.isEmpty { labels.raw(",") }
        labels.raw("agent=\"")
        MetricsExposition.escape(s.stream.agent, into: &labels)
        labels.raw("\",cli=\"")
        MetricsExposition.escape(s.stream.cli, into: &labels)
        labels.raw("\"")
        let l = labels.bytes
        var families = [[UInt8]](repeating: [], count: Family.allCases.count)

        func sample(_ out: inout JSONBuffer, _ name: String, _ suffix: StaticString, extra: StaticString? = nil, _ extraValue: [UInt8] = [], value: (inout JSONBuffer) -> Void) {
            out.raw(name)
            out.raw(suffix)
            out.raw("{")
            out.raw(l)
            if let extra {
                out.raw(extra)
                out.raw(extraValue)
                out.raw("\"")
            }
            out.raw("} ")
            value(&out)
            out.raw("\n")
        }

        if let life = s.lifetime, life.buckets.count == bounds.bucketCount {
            let created: (inout JSONBuffer) -> Void = { b in MetricsExposition.seconds(life.startedNs, into: &b) }
            var c = JSONBuffer(capacity: 4 * (l.count + 64))
            let name = Family.invocations.name
            for (outcome, count) in [("ok", life.ok), ("failed", life.failed)] {
                let o = Array(outcome.utf8)
                sample(&c, name, "_total", extra: ",outcome=\"", o) { $0.uint(count) }
                if format == .openMetrics { sample(&c, name, "_created", extra: ",outcome=\"", o, value: created) }
            }
            families[Family.invocations.rawValue] = c.bytes

            var h = JSONBuffer(capacity: (bounds.bucketCount + 3) * (l.count + 64))
            let hist = Family.duration.name
            var running: UInt64 = 0
            for (i, n) in life.buckets.enumerated() {
                running &+= n
                sample(&h, hist, "_bucket", extra: ",le=\"", leValues[i]) { $0.uint(running) }
            }
            sample(&h, hist, "_sum") { $0.decimal(life.okSumNs, places: 9) }
            sample(&h, hist, "_count") { $0.uint(life.ok) }
            if format == .openMetrics { sample(&h, hist, "_created", value: created) }
            families[Family.duration.rawValue] = h.bytes
        }
        if let d = s.durations {
            var w = JSONBuffer(capacity: 6 * (l.count + 64))
            let name = Family.windowDuration.name
            let stats: [(StaticString, Double)] = [("p50", d.p50Ns), ("p90", d.p90Ns), ("p95", d.p95Ns), ("p99", d.p99Ns), ("mean", d.meanNs), ("max", d.maxNs)]
            for (stat, ns) in stats {
                sample(&w, name, "", extra: ",stat=\"", Array(String(describing: stat).utf8)) {
                    $0.decimal(ns.isFinite && ns > 0 ? UInt64(min(ns.rounded(), 1.8e19)) : 0, places: 9)
                }
            }
            families[Family.windowDuration.rawValue] = w.bytes
        }
        func gauge(_ family: Family, _ value: Int) {
            var g = JSONBuffer(capacity: l.count + 64)
            sample(&g, family.name, "") { $0.uint(UInt64(value)) }
            families[family.rawValue] = g.bytes
        }
        gauge(.windowMeasures, s.count)
        gauge(.windowFailures, s.failures)
        gauge(.inFlight, s.inFlight)
        if let last = s.lastAtNs {
            var g = JSONBuffer(capacity: l.count + 64)
            sample(&g, Family.lastMeasure.name, "") { MetricsExposition.seconds(last, into: &$0) }
            families[Family.lastMeasure.rawValue] = g.bytes
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(families.reduce(0) { $0 + $1.count })
        var ends: [Int] = []
        for f in families {
            bytes += f
            ends.append(bytes.count)
        }
        return StreamText(bytes: bytes, ends: ends, labels: l)
    }

    /// The whole text, handed to `emit` piece by piece: each family's header and the
    /// samples of `streams`, with `abandoned(i)` marks abandoned for stream `i`, then
    /// `trailer` (more families, such as the service's own counters), then `# EOF` in
    /// OpenMetrics unless `ending` is false. Pieces are handed on as they are, never gathered first: a body of
    /// tens of megabytes is copied once, into wherever `emit` puts it.
    package func render(
        _ streams: [StreamText], abandoned: (Int) -> Int, format: ExpositionFormat, trailer: [UInt8] = [],
        ending: Bool = true, emit: (UnsafeBufferPointer<UInt8>) -> Void
    ) {
        var scratch = JSONBuffer(capacity: 1024)
        func flush() {
            scratch.bytes.withUnsafeBufferPointer(emit)
            scratch.bytes.removeAll(keepingCapacity: true)
        }
        for family in Family.allCases {
            header(family.name, type: family.type, unit: family.unit, help: family.help, format: format, into: &scratch)
            if family == .abandoned {
                for (i, s) in streams.enumerated() {
                    scratch.raw(family.name)
                    scratch.raw("{")
                    scratch.raw(s.labels)
                    scratch.raw("} ")
                    scratch.uint(UInt64(abandoned(i)))
                    scratch.raw("\n")
                    if scratch.bytes.count > 60_000 { flush() }
                }
                flush()
            } else {
                flush()
                let f = family.rawValue
                // Borrowed, not copied: a copy of each stream's text per family costs
                // more in reference counting than the bytes do in copying.
                streams.withUnsafeBufferPointer { all in
                    for i in all.indices {
                        let end = all[i].ends[f], start = f == 0 ? 0 : all[i].ends[f - 1]
                        guard end > start else { continue }
                        all[i].bytes.withUnsafeBufferPointer { emit(UnsafeBufferPointer(rebasing: $0[start..<end])) }
                    }
                }
            }
        }
        scratch.raw(trailer)
        if ending { scratch.raw(end(format)) }
        flush()
    }

    /// What ends the text: `# EOF` in OpenMetrics, nothing in the classic format.
    package func end(_ format: ExpositionFormat) -> String { format == .openMetrics ? "# EOF\n" : "" }

    /// The text of `streams` (statistics read from a log, as a ``Projection`` holds them).
    public func text(_ streams: [StreamStatistics], format: ExpositionFormat = .openMetrics) -> String {
        let texts = streams.map { stream($0, format: format) }
        var out: [UInt8] = []
        render(texts, abandoned: { streams[$0].abandoned }, format: format) { out.append(contentsOf: $0) }
        return String(decoding: out, as: UTF8.self)
    }

    /// A counter family of one sample without per-stream labels (the constant ones
    /// only), such as the service's own counters: `name` without `_total`.
    package func counter(_ name: String, help: String, value: UInt64, format: ExpositionFormat, into out: inout JSONBuffer) {
        header(name, type: "counter", unit: nil, help: help, format: format, into: &out)
        out.raw(name)
        out.raw("_total")
        if !constant.isEmpty { out.raw("{"); out.raw(constant); out.raw("}") }
        out.raw(" ")
        out.uint(value)
        out.raw("\n")
    }

    /// A gauge family of one sample with the constant labels only.
    package func gauge(_ name: String, help: String, value: UInt64, format: ExpositionFormat, into out: inout JSONBuffer) {
        header(name, type: "gauge", unit: nil, help: help, format: format, into: &out)
        out.raw(name)
        if !constant.isEmpty { out.raw("{"); out.raw(constant); out.raw("}") }
        out.raw(" ")
        out.uint(value)
        out.raw("\n")
    }

    private func header(_ name: String, type: String, unit: String?, help: String, format: ExpositionFormat, into out: inout JSONBuffer) {
        // The classic format names a counter by its sample, `_total` included.
        let shown = format == .classic && type == "counter" ? name + "_total" : name
        out.raw("# TYPE "); out.raw(shown); out.raw(" "); out.raw(type); out.raw("\n")
        if let unit, format == .openMetrics { out.raw("# UNIT "); out.raw(name); out.raw(" "); out.raw(unit); out.raw("\n") }
        out.raw("# HELP "); out.raw(shown); out.raw(" "); out.raw(help); out.raw("\n")
    }

    /// Nanoseconds since the Unix epoch as seconds, exact, without an exponent.
    static func seconds(_ ns: Int64, into out: inout JSONBuffer) {
        if ns < 0 { out.raw("-") }
        out.decimal(ns.magnitude, places: 9)
    }

    /// A label value with backslash, double quote and line feed escaped.
    static func escape(_ v: String, into out: inout JSONBuffer) {
        for b in v.utf8 {
            switch b {
            case 0x5C: out.raw("\\\\")
            case 0x22: out.raw("\\\"")
            case 0x0A: out.raw("\\n")
            default: out.byte(b)
            }
        }
    }
}
