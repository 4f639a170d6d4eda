/// Constant labels added to every series of an exposition (`--label k=v`), so that
/// several logs on one host, and many hosts in one Prometheus, never collide.
public struct MetricLabels: Sendable, Hashable {
    /// One label: a Prometheus label name and any UTF-8 value.
    public struct Label: Sendable, Hashable {
        /// The name: `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__`.
        public var name: String
        /// The value, any text (escaped when written).
        public var value: String
    }

    /// The labels, in the order given.
    public private(set) var labels: [Label] = []

    /// The names perflog's own series use, which a constant label may not take.
    public static let reserved: Set<String> = ["agent", "cli", "outcome", "le", "stat", "quantile"]

    /// No constant labels.
    public init() {}

    /// Labels from `name=value` assignments, as `--label` takes them.
    /// - Throws: ``PerfLogError/invalidInput(field:rule:)`` (field `label`) for an
    ///   assignment without `=`, a name that Prometheus does not accept or perflog uses
    ///   itself, or a name given twice.
    public init(parsing assignments: [String]) throws(PerfLogError) {
        for assignment in assignments {
            guard let eq = assignment.firstIndex(of: "=") else {
                throw .invalidInput(field: "label", rule: "must be NAME=VALUE (got \(assignment))")
            }
            try add(name: String(assignment[..<eq]), value: String(assignment[assignment.index(after: eq)...]))
        }
    }

    /// Adds the label `name="value"`.
    /// - Throws: ``PerfLogError/invalidInput(field:rule:)`` as ``init(parsing:)``.
    public mutating func add(name: String, value: String) throws(PerfLogError) {
        guard MetricLabels.isValidName(name) else {
            throw .invalidInput(field: "label", rule: "name '\(name)' is not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)")
        }
        guard !MetricLabels.reserved.contains(name) else {
            throw .invalidInput(field: "label", rule: "name '\(name)' is one of perflog's own labels (\(MetricLabels.reserved.sorted().joined(separator: ", ")))")
        }
        guard !labels.contains(where: { $0.name == name }) else {
            throw .invalidInput(field: "label", rule: "name '\(name)' is given twice")
        }
        labels.append(Label(name: name, value: value))
    }

    /// Whether `name` is a label name Prometheus accepts and does not reserve.
    public static func isValidName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard let first = bytes.first, !name.hasPrefix("__") else { return false }
        func letter(_ b: UInt8) -> Bool { (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F }
        return letter(first) && bytes.dropFirst().allSatisfy { letter($0) || ($0 >= 0x30 && $0 <= 0x39) }
    }
}
