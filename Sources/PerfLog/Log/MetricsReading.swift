import LMDB

extension LogReader {
    /// Calls `body` with each stream's id and the stored bytes of its summary (window
    /// totals and lifetime counters, not the ring), in id order, without decoding them:
    /// what a scrape needs to tell the streams that changed from those that did not.
    /// - Throws: ``PerfLogError``.
    package func forEachStreamSummary(_ body: (UInt32, UnsafeRawBufferPointer) throws -> Void) throws(PerfLogError) {
        try typed {
            try txn.withCursor(dbs.streams) { c in
                var entries = try c.entries()
                while let (k, v) = try entries.next() {
                    guard let id = Keys.streamID(k) else { throw PerfLogError.corrupt(what: "stream key of \(k.count) bytes") }
                    try body(id, UnsafeRawBufferPointer(rebasing: v[..<(try RingRecord.summaryLength(v))]))
                }
            }
        }
    }

    /// The statistics of stream `id` over its window, with its lifetime counters and
    /// in-flight count from its record (abandoned marks are not counted: see
    /// ``abandonedByStream(now:abandonAfter:)``).
    /// - Throws: ``PerfLogError``.
    package func windowStatistics(id: UInt32, now: Int64) throws(PerfLogError) -> StreamStatistics {
        try typed {
            let ring = try ring(id: id)
            var s = StreamStatistics(stream: ring.summary.stream, window: try events(of: id, ring: ring), openMarks: [], now: now,
                                     abandonAfter: Statistics.defaultAbandonAfter)
            s.lifetime = ring.summary.lifetime
            s.inFlight = ring.summary.inFlight
            return s
        }
    }

    /// Open marks older than `abandonAfter` before `now`, by stream id.
    /// - Throws: ``PerfLogError``.
    package func abandonedByStream(now: Int64, abandonAfter: Duration) throws(PerfLogError) -> [UInt32: Int] {
        let cutoff = Statistics.abandonmentCutoff(now: now, abandonAfter: abandonAfter)
        return try typed {
            var out: [UInt32: Int] = [:]
            for (stream, head) in try openMarkHeads() where head.wallTimeNs < cutoff { out[stream, default: 0] += 1 }
            return out
        }
    }
}
