import LMDB

/// One stored event as salvage reads it: decoded, or why it could not be.
package enum SalvagedEvent: Sendable {
    /// An event that decoded.
    case event(Event)
    /// The event at `seq` is stored but did not decode (`reason`).
    case undecodable(seq: UInt64, reason: String)
}

extension LogReader {
    /// Reads the timeline from the first stored event at or after `seq`, in commit
    /// order, handing each event (or the reason it did not decode) to `body` as soon as
    /// it is read, at most `limit` of them. Unlike ``timeline(after:limit:_:)``, a
    /// record that does not decode is reported and skipped rather than ending the read,
    /// so that a salvage loses only what is unreadable; a failure to move through the
    /// file (a damaged page) still throws, after everything before it was handed on.
    /// - Throws: ``PerfLogError`` or `LMDBError` from moving the cursor, or whatever
    ///   `body` throws.
    package func salvage(from seq: UInt64, limit: Int, _ body: (SalvagedEvent) throws -> Void) throws {
        var rings = RingCache(reader: self)
        try txn.withCursor(dbs.events) { c in
            var count = 0
            var previous: UInt64?
            var entries = try Keys.with(seq) { k in try c.entries(atOrAfter: k) }
            while let (k, v) = try entries.next(), count < limit {
                // A damaged branch can send the cursor back or out of range: the tree
                // is not to be trusted past that point.
                if let key = Keys.seq(k) {
                    guard key >= seq, previous.map({ key > $0 }) ?? true else {
                        throw PerfLogError.corrupt(what: "the timeline goes from seq \(previous ?? seq) back to \(key)")
                    }
                    previous = key
                }
                do {
                    if let e = try resolve(k, v, filter: StreamFilter(), rings: &rings) {
                        try body(.event(e))
                        count += 1
                    }
                } catch let error as PerfLogError {
                    guard let seq = Keys.seq(k) else { throw error }
                    try body(.undecodable(seq: seq, reason: EventLog.damage(in: error) ?? "\(error)"))
                    count += 1
                }
            }
        }
    }
}
