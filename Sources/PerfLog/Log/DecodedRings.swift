import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Stream records kept decoded by one writer across its commits, so that a commit that
/// touches a stream the writer wrote before does not decode its ring again.
///
/// A long-lived writer (the Recorder, `perflog serve`) commits small batches over many
/// streams: at a shallow pipeline each commit appends about one measure to each stream
/// it touches, and decoding the ring (names checked, a hundred slots, the histogram)
/// cost more than the rest of the append. An entry holds the record's bytes beside the
/// ring they decode to, and is used only when the stored record is byte for byte those
/// bytes: another process's commit, a compaction, a repair, a `--retain` change or a
/// commit of ours that failed all leave a record that differs, which is decoded again.
/// So a ring from the cache is always exactly what decoding the stored record gives.
package final class DecodedRings: Sendable {
    /// One stream's record: its bytes, the ring they decode to, under the `retain` it
    /// was decoded with.
    struct Entry: Sendable {
        var bytes: [UInt8]
        var ring: Ring
        var retain: Int

        /// Memory the entry holds, roughly, in bytes.
        var size: Int { bytes.capacity + ring.slots.capacity * 8 + ring.summary.lifetime.buckets.count * 8 + 160 }
    }

    /// The entries, and where each stream's is.
    ///
    /// Entries stay where they are once added (a ring lent to a batch leaves an empty
    /// one in its place): removing from a hash table moves the entries after it, and
    /// each is a ring and its record.
    struct Storage: Sendable {
        private var positions: [UInt32: Int] = [:]
        private var entries: [Entry] = []
        private var size = 0

        /// The ring of stream `id` and the buffer of its bytes, if `stored` (its record
        /// as the transaction reads it, decoded with `retain`) is what the entry was made
        /// from. The ring is taken out, so that the batch's copy is the only one and
        /// changes in place.
        mutating func take(_ id: UInt32, matching stored: UnsafeRawBufferPointer, retain: Int) -> (bytes: [UInt8], ring: Ring)? {
            guard let p = positions[id], entries[p].retain == retain, entries[p].bytes.count == stored.count else { return nil }
            let same = entries[p].bytes.withUnsafeBytes { mine in
                stored.isEmpty || memcmp(mine.baseAddress!, stored.baseAddress!, stored.count) == 0
            }
            guard same else { return nil }
            size -= entries[p].size
            let ring = entries[p].ring, bytes = entries[p].bytes
            entries[p].ring = Ring.lent
            entries[p].bytes = []
            entries[p].retain = 0
            return (bytes, ring)
        }

        /// Keeps `ring` as what `bytes` decode to, unless the cache is full.
        mutating func put(_ id: UInt32, bytes: [UInt8], ring: Ring, retain: Int) {
            let entry = Entry(bytes: bytes, ring: ring, retain: retain)
            if let p = positions[id] {
                size -= entries[p].retain == 0 ? 0 : entries[p].size
                entries[p] = entry
            } else {
                positions[id] = entries.count
                entries.append(entry)
            }
            size += entry.size
            // Bounded: rings of a large `retain` over many streams would hold the log's
            // whole window in memory. Starting over costs one decode per stream.
            if size > DecodedRings.sizeLimit {
                positions = [:]
                entries = []
                size = 0
            }
        }
    }

    /// The memory the cache may hold, in bytes.
    static let sizeLimit = 32 << 20

    private let storage = Mutex(Storage())

    /// An empty cache.
    package init() {}

    /// Runs `body` with the entries lent to `batch`, and takes them back after.
    func lend<R: Sendable>(to batch: inout AppendBatch, _ body: (inout AppendBatch) throws -> R) throws -> R {
        try storage.withLock { storage in
            batch.ringCache = storage
            storage = Storage()
            defer {
                storage = batch.ringCache ?? Storage()
                batch.ringCache = nil
            }
            return try body(&batch)
        }
    }
}
