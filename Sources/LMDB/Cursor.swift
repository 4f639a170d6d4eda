import CLMDB

/// A position in a database (`MDB_cursor`), valid only inside
/// ``Transaction/withCursor(_:_:)``. Moves return the entry they land on, or `nil` past
/// either end; keys and values point into the map.
public struct Cursor {
    /// One key/value pair, pointing into the map.
    public typealias Entry = (key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer)

    let handle: OpaquePointer

    /// The first entry (`MDB_FIRST`).
    public mutating func first() throws(LMDBError) -> Entry? { try get(nil, MDB_FIRST) }
    /// The last entry (`MDB_LAST`).
    public mutating func last() throws(LMDBError) -> Entry? { try get(nil, MDB_LAST) }
    /// The next entry (`MDB_NEXT`).
    public mutating func next() throws(LMDBError) -> Entry? { try get(nil, MDB_NEXT) }
    /// The previous entry (`MDB_PREV`).
    public mutating func previous() throws(LMDBError) -> Entry? { try get(nil, MDB_PREV) }
    /// The entry at the cursor (`MDB_GET_CURRENT`).
    public mutating func current() throws(LMDBError) -> Entry? { try get(nil, MDB_GET_CURRENT) }
    /// The entry whose key equals `key` (`MDB_SET_KEY`).
    public mutating func find(_ key: UnsafeRawBufferPointer) throws(LMDBError) -> Entry? { try get(key, MDB_SET_KEY) }
    /// The first entry whose key is at or after `key` (`MDB_SET_RANGE`).
    public mutating func seek(_ key: UnsafeRawBufferPointer) throws(LMDBError) -> Entry? { try get(key, MDB_SET_RANGE) }

    /// The entry whose key equals `key` (`MDB_SET_KEY`).
    public mutating func find(_ key: [UInt8]) throws(LMDBError) -> Entry? {
        var copy = self
        defer { self = copy }
        return try key.withUnsafeBytes { k in Result { () throws(LMDBError) in try copy.find(k) } }.get()
    }
    /// The first entry whose key is at or after `key` (`MDB_SET_RANGE`).
    public mutating func seek(_ key: [UInt8]) throws(LMDBError) -> Entry? {
        var copy = self
        defer { self = copy }
        return try key.withUnsafeBytes { k in Result { () throws(LMDBError) in try copy.seek(k) } }.get()
    }

    /// Stores `value` under `key` and moves to it (`mdb_cursor_put`). With `.current`,
    /// replaces the value at the cursor, whose key must equal `key`; with `.append`, the
    /// key must sort after every key (a fast bulk append).
    /// - Throws: `LMDBError` from `mdb_cursor_put` (`keyExists` for an out-of-order append).
    public mutating func put(
        key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, flags: Transaction.PutFlags = []
    ) throws(LMDBError) {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val(mv_size: value.count, mv_data: UnsafeMutableRawPointer(mutating: value.baseAddress))
        try check(mdb_cursor_put(handle, &k, &v, flags.rawValue), "mdb_cursor_put")
    }

    /// Deletes the entry at the cursor (`mdb_cursor_del`); the cursor then sits on the
    /// entry that followed it.
    /// - Throws: `LMDBError` from `mdb_cursor_del`.
    public mutating func delete() throws(LMDBError) {
        try check(mdb_cursor_del(handle, 0), "mdb_cursor_del")
    }

    private mutating func get(_ key: UnsafeRawBufferPointer?, _ op: MDB_cursor_op) throws(LMDBError) -> Entry? {
        var k = MDB_val(mv_size: key?.count ?? 0, mv_data: UnsafeMutableRawPointer(mutating: key?.baseAddress))
        var v = MDB_val()
        let rc = mdb_cursor_get(handle, &k, &v, op)
        if rc == MDB_NOTFOUND { return nil }
        try check(rc, "mdb_cursor_get")
        return (UnsafeRawBufferPointer(start: k.mv_data, count: k.mv_size),
                UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size))
    }
}

extension Cursor {
    /// The entries of a cursor's database in key order (or in reverse, from the last),
    /// one move at a time: `while let (key, value) = try entries.next() { … }`. Stop early
    /// by leaving the loop; entries point into the map, as the cursor's own moves do.
    ///
    /// The first entry is found when the walk is made (so that failing to find it throws
    /// there); each later one when ``next()`` is called, so that a failed move throws after
    /// everything before it was handed on, and a caller that treats a failed move as the
    /// end (`try? entries.next()`) still sees the first entry or the error finding it.
    public struct Entries {
        /// Which way a walk moves.
        public enum Direction: Sendable {
            /// Towards larger keys (`MDB_NEXT`).
            case forward
            /// Towards smaller keys (`MDB_PREV`).
            case backward
        }

        private var cursor: Cursor
        private let direction: Direction
        private var pending: Entry?
        private var started = false
        private var stayOnCurrent = false

        init(cursor: Cursor, direction: Direction, first: Entry?) {
            self.cursor = cursor
            self.direction = direction
            pending = first
        }

        /// The next entry of the walk, or `nil` past the end.
        /// - Throws: `LMDBError` from `mdb_cursor_get`.
        public mutating func next() throws(LMDBError) -> Entry? {
            if !started {
                started = true
                return pending
            }
            if stayOnCurrent {
                stayOnCurrent = false
                return try cursor.current()
            }
            switch direction {
            case .forward: return try cursor.next()
            case .backward: return try cursor.previous()
            }
        }

        /// Deletes the entry ``next()`` returned last (`mdb_cursor_del`); the walk goes
        /// on with the entry that followed it.
        /// - Throws: `LMDBError` from `mdb_cursor_del`.
        public mutating func deleteCurrent() throws(LMDBError) {
            try cursor.delete()
            // LMDB leaves the cursor on the entry after the deleted one.
            stayOnCurrent = direction == .forward
        }
    }

    /// A walk over every entry, from the first (`.forward`) or from the last (`.backward`).
    /// - Throws: `LMDBError` from finding the first entry of the walk.
    public mutating func entries(_ direction: Entries.Direction = .forward) throws(LMDBError) -> Entries {
        let first = direction == .forward ? try first() : try last()
        return Entries(cursor: self, direction: direction, first: first)
    }

    /// A walk forward from the first entry whose key is at or after `key` (`MDB_SET_RANGE`).
    /// - Throws: `LMDBError` from finding the first entry of the walk.
    public mutating func entries(atOrAfter key: UnsafeRawBufferPointer) throws(LMDBError) -> Entries {
        Entries(cursor: self, direction: .forward, first: try seek(key))
    }
}
