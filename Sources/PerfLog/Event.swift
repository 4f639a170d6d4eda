/// The (agent, CLI) pair that a measurement belongs to: one **stream**.
///
/// Names are non-empty UTF-8 of at most ``StreamName/maxBytes`` bytes without control
/// characters or bidirectional formatting characters (which make a name display as
/// another); ``init(agent:cli:)`` enforces this. Names already stored are read as they
/// are.
public struct StreamName: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The largest name, in UTF-8 bytes.
    public static let maxBytes = 128

    /// The agent's name, e.g. `planner`.
    public let agent: String
    /// The CLI's name, e.g. `claude`.
    public let cli: String

    /// Validates and wraps the two names.
    /// - Throws: ``PerfLogError`` (`invalidInput`) naming the field and the rule broken.
    public init(agent: String, cli: String) throws(PerfLogError) {
        try StreamName.validate(agent, field: "agent")
        try StreamName.validate(cli, field: "cli")
        self.agent = agent
        self.cli = cli
    }

    package init(unchecked agent: String, cli: String) {
        self.agent = agent
        self.cli = cli
    }

    /// Checks one name against the rules for stream names.
    /// - Throws: ``PerfLogError`` (`invalidInput`) naming `field` and the rule broken.
    public static func validate(_ name: String, field: String) throws(PerfLogError) {
        if name.isEmpty { throw .invalidInput(field: field, rule: "must not be empty") }
        let bytes = name.utf8.count
        if bytes > maxBytes {
            throw .invalidInput(field: field, rule: "must be at most \(maxBytes) bytes of UTF-8 (got \(bytes))")
        }
        if name.unicodeScalars.contains(where: isControl) {
            throw .invalidInput(field: field, rule: "must not contain control characters")
        }
        if let bidi = name.unicodeScalars.first(where: isBidirectionalControl) {
            let hex = String(bidi.value, radix: 16, uppercase: true)
            throw .invalidInput(
                field: field,
                rule: "must not contain bidirectional control characters (U+\(String(repeating: "0", count: max(0, 4 - hex.count)) + hex)), which make a name display as another")
        }
    }

    /// U+061C, U+200E, U+200F, U+202A–U+202E and U+2066–U+2069: the characters that
    /// reorder text around them (Trojan Source, CVE-2021-42574).
    static func isBidirectionalControl(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x061C, 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069: return true
        default: return false
        }
    }

    static func isControl(_ s: Unicode.Scalar) -> Bool {
        s.value < 0x20 || (s.value >= 0x7F && s.value <= 0x9F)
    }

    /// Orders by agent, then CLI (byte-wise, so the order is stable across platforms).
    public static func < (a: StreamName, b: StreamName) -> Bool {
        if a.agent != b.agent { return a.agent.utf8.lexicographicallyPrecedes(b.agent.utf8) }
        return a.cli.utf8.lexicographicallyPrecedes(b.cli.utf8)
    }

    /// `agent/cli`.
    public var description: String { "\(agent)/\(cli)" }
}

/// Identifies one invocation: the link between its mark and its measure. Shown as 16
/// lowercase hexadecimal digits.
public struct InvocationID: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The 64-bit value.
    public let rawValue: UInt64

    /// Wraps a value.
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// A new random identifier.
    public static func random() -> InvocationID {
        var g = SystemRandomNumberGenerator()
        return InvocationID(rawValue: g.next())
    }

    /// Parses 1 to 16 hexadecimal digits; `nil` otherwise.
    public init?(hex: String) {
        guard !hex.isEmpty, hex.utf8.count <= 16, let v = UInt64(hex, radix: 16) else { return nil }
        rawValue = v
    }

    /// 16 lowercase hexadecimal digits.
    public var description: String {
        let digits = String(rawValue, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    /// Orders by value.
    public static func < (a: InvocationID, b: InvocationID) -> Bool { a.rawValue < b.rawValue }
}

/// How an invocation ended.
public enum Outcome: String, Sendable, Hashable, CaseIterable {
    /// It succeeded.
    case ok
    /// It failed (crashed, exited non-zero, threw).
    case failed
}

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

/// One event of the log: a **mark** (an invocation started) or a **measure** (it ended).
public struct Event: Hashable, Sendable {
    /// Mark or measure.
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// The invocation started.
        case mark
        /// The invocation ended; carries a duration and an outcome.
        case measure
    }

    /// Global commit order, strictly increasing; 0 for an event not yet committed.
    public var seq: UInt64
    /// Mark or measure.
    public var kind: Kind
    /// The (agent, CLI) pair.
    public var stream: StreamName
    /// Links a mark with its measure.
    public var invocation: InvocationID
    /// Wall-clock time of the event, nanoseconds since the Unix epoch (UTC).
    public var wallTimeNs: Int64
    /// Monotonic duration in nanoseconds; measures only (0 for marks).
    public var durationNs: UInt64
    /// How it ended; measures only (`.ok` for marks).
    public var outcome: Outcome
    /// The exit code of the invocation, when it had one.
    public var exitCode: Int32?
    /// The recording process.
    public var pid: Int32
    /// Small key/value metadata.
    public var meta: Metadata

    /// Creates a mark.
    public static func mark(
        _ stream: StreamName, invocation: InvocationID, wallTimeNs: Int64, pid: Int32, meta: Metadata = Metadata()
    ) -> Event {
        Event(seq: 0, kind: .mark, stream: stream, invocation: invocation, wallTimeNs: wallTimeNs,
              durationNs: 0, outcome: .ok, exitCode: nil, pid: pid, meta: meta)
    }

    /// Creates a measure.
    public static func measure(
        _ stream: StreamName, invocation: InvocationID, durationNs: UInt64, outcome: Outcome, exitCode: Int32? = nil,
        wallTimeNs: Int64, pid: Int32, meta: Metadata = Metadata()
    ) -> Event {
        Event(seq: 0, kind: .measure, stream: stream, invocation: invocation, wallTimeNs: wallTimeNs,
              durationNs: durationNs, outcome: outcome, exitCode: exitCode, pid: pid, meta: meta)
    }

    /// Creates an event from all of its fields.
    public init(
        seq: UInt64, kind: Kind, stream: StreamName, invocation: InvocationID, wallTimeNs: Int64,
        durationNs: UInt64, outcome: Outcome, exitCode: Int32?, pid: Int32, meta: Metadata
    ) {
        self.seq = seq
        self.kind = kind
        self.stream = stream
        self.invocation = invocation
        self.wallTimeNs = wallTimeNs
        self.durationNs = durationNs
        self.outcome = outcome
        self.exitCode = exitCode
        self.pid = pid
        self.meta = meta
    }
}
