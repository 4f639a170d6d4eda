import PerfLog
import Synchronization

/// Each stream's exposition text, kept between scrapes: a scrape reads every stream
/// record (O(streams)) and redoes the text, which needs the stream's retained
/// measures, only for the streams whose record changed since. So the cost of a scrape
/// does not grow with the events the log holds.
final class MetricsCache: Sendable {
    private struct Entry {
        var summary: StreamSummary
        var text: MetricsExposition.StreamText
    }

    private struct State {
        var exposition: MetricsExposition?
        var entries: [ExpositionFormat: [StreamName: Entry]] = [:]
    }

    let labels: MetricLabels
    let abandonAfter: Duration
    private let state = Mutex(State())

    init(labels: MetricLabels, abandonAfter: Duration = Statistics.defaultAbandonAfter) {
        self.labels = labels
        self.abandonAfter = abandonAfter
    }

    /// The exposition of `log` in `format`, then `trailer(exposition)` (the service's
    /// own counters, with the same constant labels).
    /// - Throws: ``PerfLogError`` when the log cannot be read.
    func scrape(
        _ log: EventLog, format: ExpositionFormat, now: Int64,
        trailer: (MetricsExposition) -> [UInt8]
    ) throws(PerfLogError) -> [UInt8] {
        // One scrape at a time: a second one waits and then finds the texts made.
        try state.withLock { (state: inout State) throws(PerfLogError) -> [UInt8] in
            try log.read { reader in
                let bounds = try reader.bucketBounds()
                if state.exposition?.bounds != bounds {
                    state.exposition = MetricsExposition(bounds: bounds, labels: labels)
                    state.entries = [:]
                }
                guard let exposition = state.exposition else { return [] }
                let summaries = try reader.streams()
                let cutoff = Statistics.abandonmentCutoff(now: now, abandonAfter: abandonAfter)
                var abandoned: [StreamName: Int] = [:]
                for mark in try reader.openMarks() where mark.wallTimeNs < cutoff { abandoned[mark.stream, default: 0] += 1 }

                let known = state.entries[format] ?? [:]
                var next: [StreamName: Entry] = [:]
                next.reserveCapacity(summaries.count)
                var texts: [MetricsExposition.StreamText] = []
                texts.reserveCapacity(summaries.count)
                for s in summaries {
                    if let entry = known[s.stream], entry.summary == s {
                        next[s.stream] = entry
                        texts.append(entry.text)
                        continue
                    }
                    var statistics = StreamStatistics(
                        stream: s.stream, window: try reader.ring(s.stream), openMarks: [], now: now, abandonAfter: abandonAfter)
                    statistics.lifetime = s.lifetime
                    statistics.inFlight = s.inFlight
                    let text = exposition.stream(statistics, format: format)
                    next[s.stream] = Entry(summary: s, text: text)
                    texts.append(text)
                }
                // Streams gone (none, short of a repair that drops one) leave the cache.
                state.entries[format] = next
                return exposition.render(
                    texts, abandoned: { abandoned[summaries[$0].stream] ?? 0 }, format: format, trailer: trailer(exposition))
            }
        }
    }
}
