import CLMDB

/// A named database inside an environment (an `MDB_dbi`). Handles are valid for the
/// life of the environment once the transaction that opened them has committed (or, for
/// a read transaction, ended).
public struct Database: Sendable, Hashable {
    /// The C handle.
    public let handle: MDB_dbi
}

/// A transaction, valid only inside the closure of ``Environment/read(_:)`` or
/// ``Environment/write(_:)`` that provided it. Buffers it returns point into the memory
/// map and are valid until the transaction ends or, in a write transaction, until the
/// next change.
public struct Transaction {
    let handle: OpaquePointer

    init(handle: OpaquePointer) {
        self.handle = handle
    }

    /// The transaction's id (`mdb_txn_id`): for a read transaction, the id of the commit
    /// it sees.
    public var id: UInt64 { UInt64(UInt(bitPattern: mdb_txn_id(handle))) }

    /// Flags for ``openDatabase(_:create:)``-style calls (`mdb_dbi_open`).
    public struct DatabaseFlags: OptionSet, Sendable {
        /// The C bits.
        public let rawValue: UInt32
        /// Wraps C bits.
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        /// `MDB_CREATE`: create the database when it does not exist (write transactions only).
        public static let create = DatabaseFlags(rawValue: UInt32(MDB_CREATE))
        /// `MDB_INTEGERKEY`: keys are native unsigned integers.
        public static let integerKey = DatabaseFlags(rawValue: UInt32(MDB_INTEGERKEY))
    }

    /// Flags for ``put(_:key:value:flags:)`` (`mdb_put`).
    public struct PutFlags: OptionSet, Sendable {
        /// The C bits.
        public let rawValue: UInt32
        /// Wraps C bits.
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        /// `MDB_NOOVERWRITE`: fail with `keyExists` when the key is present.
        public static let noOverwrite = PutFlags(rawValue: UInt32(MDB_NOOVERWRITE))
        /// `MDB_APPEND`: the key sorts after every existing key (fast bulk load); fails
        /// with `keyExists` otherwise.
        public static let append = PutFlags(rawValue: UInt32(MDB_APPEND))
        /// `MDB_CURRENT`: with ``Cursor/put(key:value:flags:)``, replace the value at the
        /// cursor, whose key must equal the given key.
        public static let current = PutFlags(rawValue: UInt32(MDB_CURRENT))
    }

    /// Statistics of one database (`mdb_stat`).
    public struct Statistics: Sendable, Hashable {
        /// Number of key/value pairs.
        public var entries: Int
        /// Height of the B-tree.
        public var depth: Int
        /// Branch, leaf and overflow pages in use.
        public var pages: Int
    }

    /// Opens the named database (`mdb_dbi_open`); `nil` names the main database.
    /// - Throws: `LMDBError` (`notFound` when it does not exist and `create` is not given,
    ///   `databasesFull` past ``Environment/Options/maxDatabases``).
    public func openDatabase(_ name: String?, flags: DatabaseFlags = []) throws(LMDBError) -> Database {
        var dbi: MDB_dbi = 0
        let rc: Int32
        if let name {
            rc = mdb_dbi_open(handle, name, flags.rawValue, &dbi)
        } else {
            rc = mdb_dbi_open(handle, nil, flags.rawValue, &dbi)
        }
        try check(rc, "mdb_dbi_open", name ?? "main")
        return Database(handle: dbi)
    }

    /// The value stored under `key` (`mdb_get`), pointing into the map, or `nil`.
    /// - Throws: `LMDBError` other than `notFound`.
    public func value(in db: Database, forKey key: UnsafeRawBufferPointer) throws(LMDBError) -> UnsafeRawBufferPointer? {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val()
        let rc = mdb_get(handle, db.handle, &k, &v)
        if rc == MDB_NOTFOUND { return nil }
        try check(rc, "mdb_get")
        return UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size)
    }

    /// A copy of the value stored under `key`, or `nil` (`mdb_get`).
    /// - Throws: `LMDBError` other than `notFound`.
    public func value(in db: Database, forKey key: [UInt8]) throws(LMDBError) -> [UInt8]? {
        try key.withUnsafeBytes { k in
            Result { () throws(LMDBError) in try value(in: db, forKey: k).map { Array($0) } }
        }.get()
    }

    /// Stores `value` under `key` (`mdb_put`).
    /// - Throws: `LMDBError` (`mapFull`, `keyExists` with `noOverwrite`/`append`,
    ///   `badValueSize` for an empty or oversized key).
    public func put(_ db: Database, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, flags: PutFlags = []) throws(LMDBError) {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val(mv_size: value.count, mv_data: UnsafeMutableRawPointer(mutating: value.baseAddress))
        try check(mdb_put(handle, db.handle, &k, &v, flags.rawValue), "mdb_put")
    }

    /// Stores `value` under `key` (`mdb_put`).
    /// - Throws: as ``put(_:key:value:flags:)-(_,UnsafeRawBufferPointer,_,_)``.
    public func put(_ db: Database, key: [UInt8], value: [UInt8], flags: PutFlags = []) throws(LMDBError) {
        try key.withUnsafeBytes { k in
            value.withUnsafeBytes { v in
                Result { () throws(LMDBError) in try put(db, key: k, value: v, flags: flags) }
            }
        }.get()
    }

    /// Reserves `count` bytes for the value under `key` (`mdb_put` with `MDB_RESERVE`)
    /// and lets `fill` write them in place, saving a copy.
    /// - Throws: as ``put(_:key:value:flags:)-(_,UnsafeRawBufferPointer,_,_)``.
    public func putReserving(
        _ db: Database, key: UnsafeRawBufferPointer, count: Int, flags: PutFlags = [],
        _ fill: (UnsafeMutableRawBufferPointer) -> Void
    ) throws(LMDBError) {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val(mv_size: count, mv_data: nil)
        try check(mdb_put(handle, db.handle, &k, &v, flags.rawValue | UInt32(MDB_RESERVE)), "mdb_put")
        fill(UnsafeMutableRawBufferPointer(start: v.mv_data, count: count))
    }

    /// Deletes `key` (`mdb_del`).
    /// - Returns: `false` when the key was not present.
    /// - Throws: `LMDBError` other than `notFound`.
    @discardableResult
    public func delete(_ db: Database, key: UnsafeRawBufferPointer) throws(LMDBError) -> Bool {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        let rc = mdb_del(handle, db.handle, &k, nil)
        if rc == MDB_NOTFOUND { return false }
        try check(rc, "mdb_del")
        return true
    }

    /// Deletes `key` (`mdb_del`).
    /// - Returns: `false` when the key was not present.
    /// - Throws: `LMDBError` other than `notFound`.
    @discardableResult
    public func delete(_ db: Database, key: [UInt8]) throws(LMDBError) -> Bool {
        try key.withUnsafeBytes { k in Result { () throws(LMDBError) in try delete(db, key: k) } }.get()
    }

    /// Removes every entry of `db` (`mdb_drop` with 0), keeping the database.
    /// - Throws: `LMDBError` from `mdb_drop`.
    public func empty(_ db: Database) throws(LMDBError) {
        try check(mdb_drop(handle, db.handle, 0), "mdb_drop")
    }

    /// Statistics of `db` (`mdb_stat`).
    /// - Throws: `LMDBError` from `mdb_stat`.
    public func statistics(_ db: Database) throws(LMDBError) -> Statistics {
        var s = MDB_stat()
        try check(mdb_stat(handle, db.handle, &s), "mdb_stat")
        return Statistics(
            entries: s.ms_entries, depth: Int(s.ms_depth),
            pages: s.ms_branch_pages + s.ms_leaf_pages + s.ms_overflow_pages)
    }

    /// Runs `body` with a cursor over `db` (`mdb_cursor_open`), closed when it returns.
    /// - Throws: `LMDBError` from `mdb_cursor_open`, or whatever `body` throws.
    public func withCursor<R>(_ db: Database, _ body: (inout Cursor) throws -> R) throws -> R {
        var c: OpaquePointer?
        try check(mdb_cursor_open(handle, db.handle, &c), "mdb_cursor_open")
        guard let c else { throw LMDBError(.badTransaction, operation: "mdb_cursor_open") }
        defer { mdb_cursor_close(c) }
        var cursor = Cursor(handle: c)
        return try body(&cursor)
    }
}
