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
