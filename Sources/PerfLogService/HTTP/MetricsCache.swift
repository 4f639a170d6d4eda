import NIOCore
import PerfLog
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Each stream's exposition text, kept between scrapes: a scrape walks the stream
/// records (O(streams)), compares each one's stored summary with the one its text was
/// made from, and makes the text again, which needs the stream's retained measures,
/// only for the streams that changed. So the cost of a scrape does not grow with the
/// events the log holds.
final class MetricsCache: Sendable {
    /// The texts of one format, in stream id order.
    private struct Texts {
        var ids: [UInt32] = []
        /// The stored summary bytes each text was made from.
        var summaries: [[UInt8]] = []
        var texts: [MetricsExposition.StreamText] = []
        /// The streams' part of the last answer, and the abandoned counts it shows; `nil`
        /// once a text changed.
        var rendered: (body: ByteBuffer, abandoned: [Int])?
    }

    private struct State {
        var exposition: MetricsExposition?
        var byFormat: [ExpositionFormat: Texts] = [:]
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
    ) throws(PerfLogError) -> [ByteBuffer] {
        // One scrape at a time: a second one waits and then finds the texts made.
        try state.withLock { (state: inout State) throws(PerfLogError) -> [ByteBuffer] in
            let abandonAfter = self.abandonAfter
            let abandoned: [UInt32: Int] = try log.read { reader in
                let bounds = try reader.bucketBounds()
                if state.exposition?.bounds != bounds {
                    state.exposition = MetricsExposition(bounds: bounds, labels: labels)
                    state.byFormat = [:]
                }
                guard let exposition = state.exposition else { return [:] }
                var texts = state.byFormat.removeValue(forKey: format) ?? Texts()
                var i = 0
                try reader.forEachStreamSummary { id, summary in
                    // Streams keep their ids and only ever come after the others: a
                    // mismatch is a new stream, or one a repair dropped.
                    while i < texts.ids.count && texts.ids[i] < id {
                        texts.rendered = nil
                        texts.ids.remove(at: i)
                        texts.summaries.remove(at: i)
                        texts.texts.remove(at: i)
                    }
                    if i < texts.ids.count && texts.ids[i] == id {
                        let same = texts.summaries[i].withUnsafeBytes { kept in
                            kept.count == summary.count && (kept.count == 0 || memcmp(kept.baseAddress!, summary.baseAddress!, kept.count) == 0)
                        }
                        if !same {
                            texts.rendered = nil
                            texts.summaries[i] = Array(summary)
                            texts.texts[i] = exposition.stream(try reader.windowStatistics(id: id, now: now), format: format)
                        }
                    } else {
                        texts.rendered = nil
                        texts.ids.insert(id, at: i)
                        texts.summaries.insert(Array(summary), at: i)
                        texts.texts.insert(exposition.stream(try reader.windowStatistics(id: id, now: now), format: format), at: i)
                    }
                    i += 1
                }
                if i < texts.ids.count { texts.rendered = nil }
                texts.ids.removeSubrange(i...)
                texts.summaries.removeSubrange(i...)
                texts.texts.removeSubrange(i...)
                state.byFormat[format] = texts
                return try reader.abandonedByStream(now: now, abandonAfter: abandonAfter)
            }
            guard let exposition = state.exposition, var texts = state.byFormat[format] else { return [] }
            let counts = texts.ids.map { abandoned[$0] ?? 0 }
            // While no stream changed (a quiet host between scrapes), the streams' part
            // is sent again as it is, without a byte copied.
            if texts.rendered?.abandoned != counts {
                var body = ByteBuffer()
                body.reserveCapacity(texts.texts.reduce(4096) { $0 + $1.bytes.count + 96 })
                exposition.render(texts.texts, abandoned: { counts[$0] }, format: format, ending: false) { body.writeBytes($0) }
                texts.rendered = (body, counts)
                state.byFormat[format] = texts
            }
            var tail = ByteBuffer(bytes: trailer(exposition))
            tail.writeString(exposition.end(format))
            return [texts.rendered?.body ?? ByteBuffer(), tail]
        }
    }
}
