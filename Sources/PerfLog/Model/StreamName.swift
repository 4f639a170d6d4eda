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
