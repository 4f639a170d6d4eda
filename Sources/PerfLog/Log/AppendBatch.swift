import LMDB
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The work of one ``EventLog/append(_:)`` commit.
///
/// Events are appended to the end of `events` (keys are increasing `seq`s), so a batch
/// dirties only the last pages of the timeline plus the records of the streams it
/// touches, whatever the number of streams. Rings and summaries are loaded once per
/// batch and written back once.
///
/// Measures evicted from a ring are removed from `events` lazily, from the old end, so
/// that deletions too stay on few pages: the meta value `gc` is a `seq` below which every
/// stored event is live (retained, or an open mark), and `garbage` counts the evicted
/// measures stored at or above it. An eviction below `gc` (a long-lived event of a quiet
/// stream) is deleted at once. Readers skip garbage by checking each measure against its
/// ring, so the timeline they see is exactly the retained events and open marks.
struct AppendBatch {
    let txn: Transaction
    let dbs: EventLog.Databases
    let retain: Int
    let known: SmallMap<StreamName, UInt32>
    var assigned = SmallMap<StreamName, UInt32>()
    /// Rings loaded by this batch, mutated in place; `index` finds them by stream id,
    /// `byName` by name (one hash per event).
    private var rings: [Ring] = []
    private var ids: [UInt32] = []
    private var dirty: [Bool] = []
    private var index = SmallMap<UInt32, Int>()
    private var byName = SmallMap<StreamName, Int>()
    private var evictions: [(seq: UInt64, ring: Int)] = []
    private var scratch = ByteWriter(capacity: 512)
    private var lastStream: UInt32
    private var gc: UInt64
    private var garbage: UInt64
    /// The log's histogram bounds, for the streams' lifetime counters.
    private let bounds: BucketBounds
    /// When this batch began: the start of the counters of the streams it creates.
    private let startedNs: Int64

    /// With ``RetryIndex``: the invocations each stream's ring holds, by stream id, to
    /// skip measures sent again; `nil` when every event is appended.
    var retries: [UInt32: RetryIndex.Entry]?
    /// With ``retries``: the entries of the rings loaded, parallel to `rings`.
    private var retryEntries: [RetryIndex.Entry] = []
    /// The positions in the events given to ``run(_:keepingSeqs:)`` of those skipped as retries.
    var skipped: [Int] = []
    /// With ``DecodedRings``: rings this writer decoded or wrote before, with their bytes;
    /// `nil` when every ring is decoded from its record.
    var ringCache: DecodedRings.Storage?
    /// With ``ringCache``: the stored bytes of each ring loaded, parallel to `rings`
    /// (empty for a stream this batch creates), then what the batch writes.
    private var recordBytes: [[UInt8]] = []

    /// Garbage kept before collection steps over live events, at the least.
    static let minimumToleratedGarbage = 1024

    init(txn: Transaction, dbs: EventLog.Databases, retain: Int, known: SmallMap<StreamName, UInt32>) throws {
        self.txn = txn
        self.dbs = dbs
        self.retain = retain
        self.known = known
        lastStream = try txn.counter(.streams, in: dbs)
        gc = try txn.counter(.gc, in: dbs)
        garbage = try txn.counter(.garbage, in: dbs)
        bounds = try txn.bucketBounds(in: dbs.meta) ?? .standard
        startedNs = EventClock.wallNs()
    }


    /// Appends `events`; with `keepingSeqs`, each keeps its own `seq` (increasing, above
    /// the last committed one), as when a compaction replays another log's commits.
    mutating func run(_ events: [Event], keepingSeqs: Bool = false) throws -> UInt64 {
        var seq: UInt64 = try txn.counter(.seq, in: dbs)
        let first = keepingSeqs ? (events.first?.seq ?? seq) : seq + 1
        if events.isEmpty { return seq }

        try txn.withCursor(dbs.events) { cursor in
            for (position, var event) in events.enumerated() {
                // A retry's mark is skipped too when its measure is in the ring: stored
                // again it would stay open (in flight, then abandoned) for ever. A mark
                // resent while still open needs nothing: storing it replaces the first.
                if retries != nil {
                    let i = try ringIndex(named: event.stream)
                    if retryEntries[i].holds(event.invocation.rawValue) {
                        skipped.append(position)
                        continue
                    }
                }
                if keepingSeqs {
                    guard event.seq > seq else { throw PerfLogError.corrupt(what: "event \(event.seq) replayed out of order") }
                    seq = event.seq
                } else {
                    seq += 1
                }
                event.seq = seq
                let i = try ringIndex(named: event.stream)
                switch event.kind {
                case .mark:
                    try closeMark(event.invocation, onlyIn: nil)
                    try Keys.with(event.invocation.rawValue) { k in
                        try Keys.with(seq) { v in try txn.put(dbs.open, key: k, value: v) }
                    }
                    rings[i].summary.inFlight += 1
                case .measure:
                    try closeMark(event.invocation, onlyIn: ids[i])
                    let slot = Int(rings[i].summary.appended % UInt64(retain))
                    if let evicted = rings[i].push(seq, retain: retain) { evictions.append((evicted, i)) }
                    if retries != nil { retryEntries[i].put(seq: seq, invocation: event.invocation.rawValue, slot: slot) }
                    rings[i].summary.add(event)
                    rings[i].summary.lifetime.add(durationNs: event.durationNs, failed: event.outcome == .failed, bounds: bounds)
                }
                StoredEvent.encode(event, stream: ids[i], into: &scratch)
                try Keys.with(seq) { k in
                    try scratch.bytes.withUnsafeBytes { v in try cursor.put(key: k, value: v, flags: .append) }
                }
                rings[i].summary.lastSeq = seq
                dirty[i] = true
            }
            try settleEvictions(&cursor)
            try collectGarbage(&cursor)
        }

        if retries != nil {
            for i in rings.indices {
                retryEntries[i].matches(lastSeq: rings[i].summary.lastSeq, appended: rings[i].summary.appended)
                retries?[ids[i]] = retryEntries[i]
            }
        }
        for i in rings.indices.filter({ dirty[$0] }).sorted(by: { ids[$0] < ids[$1] }) {
            scratch.bytes.removeAll(keepingCapacity: true)
            RingRecord.encode(rings[i], into: &scratch)
            try Keys.with(ids[i]) { k in try scratch.bytes.withUnsafeBytes { v in try txn.put(dbs.streams, key: k, value: v) } }
            if ringCache != nil {
                // Into the buffer the record was read into: no allocation per stream.
                recordBytes[i].removeAll(keepingCapacity: true)
                recordBytes[i].append(contentsOf: scratch.bytes)
            }
        }
        if ringCache != nil {
            // Whether or not this commit goes through: an entry is used only while the
            // stored record is these bytes.
            for i in rings.indices where !recordBytes[i].isEmpty {
                ringCache?.put(ids[i], bytes: recordBytes[i], ring: rings[i], retain: retain)
            }
        }
        try txn.putMeta(.seq, seq, in: dbs.meta)
        try txn.putMeta(.streams, lastStream, in: dbs.meta)
        try txn.putMeta(.gc, gc, in: dbs.meta)
        try txn.putMeta(.garbage, garbage, in: dbs.meta)
        return first
    }

    /// Subtracts each evicted measure from its summary, in `seq` order so that the reads
    /// walk the timeline once; deletes those below `gc` and leaves the rest as garbage.
    private mutating func settleEvictions(_ cursor: inout Cursor) throws {
        guard !evictions.isEmpty else { return }
        evictions.sort { $0.seq < $1.seq }
        for (seq, i) in evictions {
            let found = try Keys.with(seq) { k in try cursor.find(k) }
            guard let (_, value) = found, StoredEvent.stream(value) == ids[i] else {
                throw PerfLogError.corrupt(what: "evicted measure \(seq) is missing")
            }
            let evicted = try EventRecord.decode(StoredEvent.record(value), stream: rings[i].summary.stream)
            rings[i].summary.remove(evicted)
            if seq < gc {
                try cursor.delete()
            } else {
                garbage += 1
            }
        }
    }

    /// Deletes garbage from the old end of the timeline, advancing `gc`. Stops at the
    /// first live event unless garbage has grown past half the retained measures, in
    /// which case live events are stepped over (they are deleted directly once
    /// evicted). Bounded per batch so that a commit's cost stays proportional to it.
    private mutating func collectGarbage(_ cursor: inout Cursor) throws {
        guard garbage > 0 else { return }
        let tolerated = UInt64(max(AppendBatch.minimumToleratedGarbage, retain * Int(lastStream) / 2))
        var budget = 2 * evictions.count + 64
        var entries = try Keys.with(gc) { k in try cursor.entries(atOrAfter: k) }
        var entry = try entries.next()
        while garbage > 0, budget > 0, let (key, value) = entry {
            budget -= 1
            let seq = Keys.integer(key)
            guard let id = StoredEvent.stream(value) else { throw PerfLogError.corrupt(what: "event \(seq) is truncated") }
            if StoredEvent.isMeasure(value), !rings[try ringIndex(id: id)].retains(seq, retain: retain) {
                try entries.deleteCurrent()
                garbage -= 1
                gc = seq + 1
            } else if garbage > tolerated {
                gc = seq + 1
            } else {
                gc = seq
                return
            }
            entry = try entries.next()
        }
        if entry == nil, let (key, _) = try cursor.last() { gc = max(gc, Keys.integer(key) + 1) }
    }

    /// The batch's index of the ring of `stream`, loading or creating it.
    private mutating func ringIndex(named stream: StreamName) throws -> Int {
        if let i = byName[stream] { return i }
        let i: Int
        if let id = known[stream], let found = try ringIndex(id: id, ifNamed: stream) {
            i = found
        } else {
            if let id = try txn.streamID(of: stream, in: dbs) {
                assigned[stream] = id
                i = try ringIndex(id: id)
            } else {
                guard lastStream < UInt32.max else { throw PerfLogError.invalidInput(field: "stream", rule: "too many streams") }
                lastStream += 1
                try txn.putStreamID(lastStream, of: stream, in: dbs)
                assigned[stream] = lastStream
                var ring = Ring(stream: stream)
                ring.summary.lifetime = LifetimeCounters(startedNs: startedNs, bucketCount: bounds.bucketCount)
                i = add(ring, id: lastStream)
                dirty[i] = true
            }
        }
        byName[stream] = i
        return i
    }

    /// The batch's index of the ring of stream `id`, which this process knew as
    /// `stream`, loading it; `nil` when `id` is no longer that stream: another process
    /// forgot it (ids are never given out again) or renamed it since.
    private mutating func ringIndex(id: UInt32, ifNamed stream: StreamName) throws -> Int? {
        if let i = index[id] { return rings[i].summary.stream == stream ? i : nil }
        let raw = try Keys.with(id) { k in try txn.value(in: dbs.streams, forKey: k) }
        guard let raw else { return nil }
        let i = try add(stored: raw, id: id)
        return rings[i].summary.stream == stream ? i : nil
    }

    /// The batch's index of the ring of stream `id`, loading it.
    private mutating func ringIndex(id: UInt32) throws -> Int {
        if let i = index[id] { return i }
        let raw = try Keys.with(id) { k in try txn.value(in: dbs.streams, forKey: k) }
        guard let raw else { throw PerfLogError.corrupt(what: "the record of stream \(id) is missing") }
        return try add(stored: raw, id: id)
    }

    /// Adds the ring of stream `id` from its stored record `raw`: from the cache when
    /// it holds these bytes, else decoded.
    private mutating func add(stored raw: UnsafeRawBufferPointer, id: UInt32) throws -> Int {
        guard ringCache != nil else { return add(try RingRecord.decode(raw, retain: retain), id: id) }
        if let (bytes, ring) = ringCache?.take(id, matching: raw, retain: retain) {
            return add(ring, id: id, bytes: bytes)
        }
        return add(try RingRecord.decode(raw, retain: retain), id: id, bytes: Array(raw))
    }

    private mutating func add(_ ring: Ring, id: UInt32, bytes: [UInt8] = []) -> Int {
        if ringCache != nil { recordBytes.append(bytes) }
        if retries != nil {
            // The entry kept across commits holds only if the record is as it left it.
            let s = ring.summary
            // Taken out, not copied: the batch's copy is then the only one, and changes in place.
            if let kept = retries?.removeValue(forKey: id), kept.lastSeq == s.lastSeq, kept.appended == s.appended {
                retryEntries.append(kept)
            } else {
                retryEntries.append((try? RetryIndex.Entry(ring, txn: txn, dbs: dbs)) ?? RetryIndex.Entry(lastSeq: s.lastSeq, appended: s.appended))
            }
        }
        rings.append(ring)
        ids.append(id)
        dirty.append(false)
        index[id] = rings.count - 1
        return rings.count - 1
    }

    /// Removes the open mark of `invocation`, if any; with `onlyIn`, only when it belongs
    /// to that stream (a measure closes its own stream's mark; a new mark with a reused
    /// invocation replaces any older one).
    private mutating func closeMark(_ invocation: InvocationID, onlyIn stream: UInt32?) throws {
        let seqRaw = try Keys.with(invocation.rawValue) { k in try txn.value(in: dbs.open, forKey: k) }
        guard let seqRaw else { return }
        guard let markSeq = Keys.seq(seqRaw) else { throw PerfLogError.corrupt(what: "open mark of \(invocation)") }
        let value = try Keys.with(markSeq) { k in try txn.value(in: dbs.events, forKey: k) }
        guard let value, let owner = StoredEvent.stream(value), !StoredEvent.isMeasure(value) else {
            throw PerfLogError.corrupt(what: "open mark \(invocation) points to a missing event \(markSeq)")
        }
        if let stream, owner != stream { return }
        let i = try ringIndex(id: owner)
        try Keys.with(markSeq) { k in _ = try txn.delete(dbs.events, key: k) }
        try Keys.with(invocation.rawValue) { k in _ = try txn.delete(dbs.open, key: k) }
        rings[i].summary.inFlight -= 1
        dirty[i] = true
    }
}
