import LMDB

/// What the last projection written to one output file was made from, stored in the
/// log's `meta` database under `projected/<hash of the output path>`, so that a
/// projection is rewritten only when something it depends on changed.
///
/// The output depends on the log (its last `seq` identifies its state: every commit
/// advances it), on the time only through which open marks count as abandoned (for a
/// fixed set of marks those are the ones older than a moving threshold, so their number
/// identifies them), and on the projector's format and options. The file's identity
/// (device, inode, size, modification time) catches a file deleted, edited or replaced
/// by another writer since.
struct ProjectionCheckpoint: Hashable {
    /// Bumped whenever the bytes the projector writes for the same log change.
    static let formatVersion: UInt32 = 1

    var format: UInt32 = ProjectionCheckpoint.formatVersion
    /// Bit 0: measurements listed.
    var options: UInt32
    var abandonAfterNs: Int64
    var lastSeq: UInt64
    var abandoned: UInt64
    var device: UInt64
    var inode: UInt64
    var size: UInt64
    var modifiedSeconds: Int64
    var modifiedNanoseconds: Int64

    /// `format · options · abandonAfterNs · lastSeq · abandoned · device · inode · size ·
    /// mtime s · mtime ns`, big-endian, 72 bytes.
    var encoded: [UInt8] {
        var out = Keys.u32(format) + Keys.u32(options)
        for v in [UInt64(bitPattern: abandonAfterNs), lastSeq, abandoned, device, inode, size,
                  UInt64(bitPattern: modifiedSeconds), UInt64(bitPattern: modifiedNanoseconds)] {
            out += Keys.u64(v)
        }
        return out
    }

    /// The file the checkpoint recorded.
    var file: FileIdentity {
        FileIdentity(device: device, inode: inode, size: size, modifiedSeconds: modifiedSeconds,
                     modifiedNanoseconds: modifiedNanoseconds)
    }

    init(options: UInt32, abandonAfterNs: Int64, lastSeq: UInt64, abandoned: UInt64, file: FileIdentity) {
        self.options = options
        self.abandonAfterNs = abandonAfterNs
        self.lastSeq = lastSeq
        self.abandoned = abandoned
        device = file.device
        inode = file.inode
        size = file.size
        modifiedSeconds = file.modifiedSeconds
        modifiedNanoseconds = file.modifiedNanoseconds
    }

    /// Decodes a stored checkpoint; `nil` when it is of another size (an older or newer
    /// format), which simply means "rewrite".
    init?(_ raw: UnsafeRawBufferPointer) {
        guard raw.count == 72 else { return nil }
        format = Keys.readU32(raw, at: 0)
        options = Keys.readU32(raw, at: 4)
        abandonAfterNs = Int64(bitPattern: Keys.readU64(raw, at: 8))
        lastSeq = Keys.readU64(raw, at: 16)
        abandoned = Keys.readU64(raw, at: 24)
        device = Keys.readU64(raw, at: 32)
        inode = Keys.readU64(raw, at: 40)
        size = Keys.readU64(raw, at: 48)
        modifiedSeconds = Int64(bitPattern: Keys.readU64(raw, at: 56))
        modifiedNanoseconds = Int64(bitPattern: Keys.readU64(raw, at: 64))
    }

    /// The `meta` key for the projection written to `canonicalPath` (``MetaKey/projected(canonicalPath:)``).
    static func key(for canonicalPath: String) -> [UInt8] {
        MetaKey.projected(canonicalPath: canonicalPath).bytes
    }
}

extension Transaction {
    /// The checkpoint stored under `key` in `meta`, if any (of this format).
    /// - Throws: `LMDBError` from `mdb_get`.
    func projectionCheckpoint(_ key: [UInt8], in dbs: EventLog.Databases) throws(LMDBError) -> ProjectionCheckpoint? {
        try key.withUnsafeBytes { k in
            Result { () throws(LMDBError) in try value(in: dbs.meta, forKey: k).flatMap(ProjectionCheckpoint.init) }
        }.get()
    }

    /// Stores `checkpoint` under `key` in `meta`.
    /// - Throws: `LMDBError` from `mdb_put`.
    func putProjectionCheckpoint(_ checkpoint: ProjectionCheckpoint, key: [UInt8], in dbs: EventLog.Databases) throws(LMDBError) {
        try put(dbs.meta, key: key, value: checkpoint.encoded)
    }
}
