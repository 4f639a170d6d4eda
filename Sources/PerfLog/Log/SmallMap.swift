/// A map that is a short list searched in order while it is small, and a dictionary
/// once it grows past ``linearLimit``.
///
/// A one-shot process (`perflog record`, `perflog exec`) appends one event to one
/// stream. The first `Dictionary` keyed by a type of ours makes the Swift runtime look up
/// that type's `Hashable` conformance, a scan of every conformance record in the binary,
/// and build the storage's metadata from its mangled name: about a tenth of such a
/// process's time, for a map of one entry. Batches of many streams still get a hash
/// table.
struct SmallMap<Key: Hashable, Value> {
    /// Entries kept as a list at most.
    static var linearLimit: Int { 8 }

    private var keys: [Key] = []
    private var values: [Value] = []
    private var table: [Key: Value]?

    init() {}

    var isEmpty: Bool { table?.isEmpty ?? keys.isEmpty }

    subscript(key: Key) -> Value? {
        get {
            if let table { return table[key] }
            for i in keys.indices where keys[i] == key { return values[i] }
            return nil
        }
        set {
            if table != nil {
                table?[key] = newValue
                return
            }
            if let i = keys.firstIndex(of: key) {
                if let newValue { values[i] = newValue } else { keys.remove(at: i); values.remove(at: i) }
                return
            }
            guard let newValue else { return }
            if keys.count < Self.linearLimit {
                keys.append(key)
                values.append(newValue)
                return
            }
            var grown = Dictionary(uniqueKeysWithValues: zip(keys, values))
            grown[key] = newValue
            table = grown
            keys = []
            values = []
        }
    }

    /// Every entry, in no particular order.
    var entries: [(key: Key, value: Value)] {
        if let table { return table.map { ($0.key, $0.value) } }
        return zip(keys, values).map { ($0, $1) }
    }

    /// Calls `body` with every entry, in no particular order.
    func forEach(_ body: (Key, Value) -> Void) {
        if let table {
            for (k, v) in table { body(k, v) }
        } else {
            // Pairwise, not through ``entries``: an array of (key, value) tuples is one
            // more type whose metadata a one-shot process would build at run time.
            for i in keys.indices { body(keys[i], values[i]) }
        }
    }

    /// Adds the entries of `other`, replacing those here with the same key (what a
    /// commit read is newer than what was known before it).
    mutating func update(with other: SmallMap) {
        other.forEach { self[$0] = $1 }
    }
}

extension SmallMap: Sendable where Key: Sendable, Value: Sendable {}

/// The stream ids a log has seen committed, by name.
///
/// Not generic, on purpose: kept in a `Mutex` (generic over what it holds), a
/// `SmallMap<StreamName, UInt32>` would have the runtime build that map's metadata, and
/// look up `StreamName`'s `Hashable` conformance, when the log is released; behind this
/// struct the compiler knows every type, and nothing is looked up.
struct KnownStreams: Sendable {
    var ids = SmallMap<StreamName, UInt32>()
}
