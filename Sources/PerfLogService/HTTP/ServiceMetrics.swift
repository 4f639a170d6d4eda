/// The service's own counters in OpenMetrics text.
enum ServiceMetrics {
    /// Whether a scraper's `Accept` header asks for the classic text format (0.0.4) and
    /// not OpenMetrics: it names `text/plain` and not `application/openmetrics-text`.
    /// Without a preference, the answer is OpenMetrics.
    static func wantsClassicText(accept: [String]) -> Bool {
        let value = accept.joined(separator: ",").lowercased()
        return value.contains("text/plain") && !value.contains("application/openmetrics-text")
    }

    /// OpenMetrics text in the classic Prometheus format: no `# UNIT` or `# EOF`, and a
    /// counter's `# TYPE`/`# HELP` name its `_total` sample (the classic format's rule).
    static func classicText(fromOpenMetrics text: String) -> String {
        var counters = Set<Substring>()
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        for line in lines where line.hasPrefix("# TYPE ") && line.hasSuffix(" counter") {
            counters.insert(line.dropFirst(7).dropLast(8))
        }
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for line in lines {
            if line.hasPrefix("# UNIT ") || line == "# EOF" { continue }
            if line.hasPrefix("# TYPE ") || line.hasPrefix("# HELP ") {
                let rest = line.dropFirst(7)
                let name = rest.prefix { $0 != " " }
                if counters.contains(name) {
                    out += line.prefix(7) + name + "_total" + rest.dropFirst(name.count) + "\n"
                    continue
                }
            }
            if !line.isEmpty { out += line + "\n" }
        }
        return out
    }

    static func render(_ c: ServiceCounters) -> String {
        var out = ""
        func counter(_ name: String, _ help: String, _ value: UInt64) {
            out += "# TYPE \(name) counter\n# HELP \(name) \(help)\n\(name)_total \(value)\n"
        }
        counter("perflog_serve_lines", "Lines received by this service (blank lines excepted).", c.lines)
        counter("perflog_serve_events_committed", "Events this service committed to the log.", c.committed)
        counter("perflog_serve_lines_rejected", "Lines this service refused with an error reply.", c.rejected)
        counter("perflog_serve_connections", "Socket connections accepted.", c.connections)
        counter("perflog_serve_http_requests", "HTTP requests answered.", c.httpRequests)
        out += "# TYPE perflog_serve_open_connections gauge\n# HELP perflog_serve_open_connections Socket connections open now.\n"
        out += "perflog_serve_open_connections \(c.openConnections)\n"
        return out
    }
}
