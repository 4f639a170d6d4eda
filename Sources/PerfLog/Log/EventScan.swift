import LMDB

extension LogReader {
    /// Visits every stored event once, in `seq` order, with its `seq`, stream id and
    /// record: one sequential pass over the `events` database, which is far cheaper than
    /// looking each retained measure up by key. The caller must skip evicted measures
    /// still stored above the collection mark (a measure is retained iff its ring
    /// ``Ring/retains(_:retain:)`` it).
    /// - Throws: ``PerfLogError/corrupt(what:)`` for a malformed key or value, LMDB
    ///   errors, or whatever `body` throws.
    func scanEvents(_ body: (UInt64, UInt32, UnsafeRawBufferPointer) throws -> Void) throws {
        try txn.withCursor(dbs.events) { c in
            var entries = try c.entries()
            while let (k, v) = try entries.next() {
                guard let seq = Keys.seq(k) else { throw PerfLogError.corrupt(what: "event key of \(k.count) bytes") }
                guard let id = StoredEvent.stream(v) else { throw PerfLogError.corrupt(what: "event \(seq) is truncated") }
                try body(seq, id, StoredEvent.record(v))
            }
        }
    }

    /// Every open mark as (stream id, head), in no particular order: reads the `open`
    /// database (only invocations in flight) and looks each mark up.
    /// - Throws: ``PerfLogError/corrupt(what:)`` when a mark is missing or malformed.
    func openMarkHeads() throws -> [(stream: UInt32, head: EventHead)] {
        try openMarkRecords().map { ($0.stream, try EventRecord.decodeHead($0.record)) }
    }
}
