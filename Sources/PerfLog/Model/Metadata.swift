/// Small string key/value pairs attached to an event (e.g. `model=opus`), kept sorted by
/// key. Bounded: at most ``maxEntries`` entries, keys of at most ``maxKeyBytes`` bytes,
/// values of at most ``maxValueBytes`` bytes, no control characters.
public struct Metadata: Hashable, Sendable, Sequence, ExpressibleByDictionaryLiteral {
    /// The most entries an event may carry.
    public static let maxEntries = 16
    /// The longest key, in UTF-8 bytes.
    public static let maxKeyBytes = 64
    /// The longest value, in UTF-8 bytes.
    public static let maxValueBytes = 256

    /// The entries, sorted by key, keys unique.
    public private(set) var entries: [(key: String, value: String)] = []

    /// No entries.
    public init() {}

    /// Builds metadata from a literal; later duplicates replace earlier ones. Not
    /// validated: use ``validated(_:)`` for input from outside.
    public init(dictionaryLiteral elements: (String, String)...) {
        for (k, v) in elements { self[k] = v }
    }

    /// Validates `pairs` and builds metadata from them.
    /// - Throws: ``PerfLogError`` (`invalidInput`) naming the key and the rule broken.
    public static func validated(_ pairs: [(String, String)]) throws(PerfLogError) -> Metadata {
        var m = Metadata()
        for (k, v) in pairs {
            if k.isEmpty { throw .invalidInput(field: "meta", rule: "keys must not be empty") }
            if k.utf8.count > maxKeyBytes {
                throw .invalidInput(field: "meta key \(k.prefix(20))…", rule: "must be at most \(maxKeyBytes) bytes")
            }
            if v.utf8.count > maxValueBytes {
                throw .invalidInput(field: "meta.\(k)", rule: "must be at most \(maxValueBytes) bytes")
            }
            if k.unicodeScalars.contains(where: StreamName.isControl) || v.unicodeScalars.contains(where: StreamName.isControl) {
                throw .invalidInput(field: "meta.\(k)", rule: "must not contain control characters")
            }
            m[k] = v
        }
        if m.count > maxEntries { throw .invalidInput(field: "meta", rule: "at most \(maxEntries) entries") }
        return m
    }

    /// The number of entries.
    public var count: Int { entries.count }
    /// Whether there are no entries.
    public var isEmpty: Bool { entries.isEmpty }

    /// The value for `key`; setting `nil` removes it.
    public subscript(key: String) -> String? {
        get { entries.first(where: { $0.key == key })?.value }
        set {
            let i = entries.firstIndex(where: { !$0.key.utf8.lexicographicallyPrecedes(key.utf8) }) ?? entries.endIndex
            let present = i < entries.endIndex && entries[i].key == key
            switch (present, newValue) {
            case (true, let v?): entries[i].value = v
            case (true, nil): entries.remove(at: i)
            case (false, let v?): entries.insert((key, v), at: i)
            case (false, nil): break
            }
        }
    }

    /// Iterates the entries in key order.
    public func makeIterator() -> IndexingIterator<[(key: String, value: String)]> { entries.makeIterator() }

    /// Equal when the same keys map to the same values.
    public static func == (a: Metadata, b: Metadata) -> Bool {
        a.entries.count == b.entries.count && zip(a.entries, b.entries).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }

    /// Hashes the entries in order.
    public func hash(into h: inout Hasher) {
        for (k, v) in entries { h.combine(k); h.combine(v) }
    }
}
