import PerfLog

/// The service's own counters in the exposition, and how a scraper chooses its format.
enum ServiceMetrics {
    /// The format a scraper's `Accept` header asks for: the classic text format (0.0.4)
    /// when it names `text/plain` and not `application/openmetrics-text`; OpenMetrics
    /// otherwise, and without a preference.
    static func format(accept: [String]) -> ExpositionFormat {
        let value = accept.joined(separator: ",").lowercased()
        return value.contains("text/plain") && !value.contains("application/openmetrics-text") ? .classic : .openMetrics
    }

    /// The service's counters (`perflog_serve_*_total`) and open connections, with the
    /// exposition's constant labels.
    static func render(_ c: ServiceCounters, with exposition: MetricsExposition, format: ExpositionFormat) -> [UInt8] {
        var out = JSONBuffer(capacity: 1024)
        let counters: [(String, String, UInt64)] = [
            ("perflog_serve_lines", "Lines received by this service (blank lines excepted).", c.lines),
            ("perflog_serve_events_committed", "Events this service committed to the log.", c.committed),
            ("perflog_serve_lines_rejected", "Lines this service refused with an error reply.", c.rejected),
            ("perflog_serve_duplicates", "Events acknowledged without being stored again: their invocation's measure was in the ring already (a client's retry of a measure or of its mark).", c.duplicates),
            ("perflog_serve_connections", "Socket connections accepted.", c.connections),
            ("perflog_serve_http_requests", "HTTP requests answered.", c.httpRequests),
        ]
        for (name, help, value) in counters {
            exposition.counter(name, help: help, value: value, format: format, into: &out)
        }
        exposition.gauge("perflog_serve_open_connections", help: "Socket connections open now.", value: UInt64(c.openConnections),
                         format: format, into: &out)
        return out.bytes
    }
}
