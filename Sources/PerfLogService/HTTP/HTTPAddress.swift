/// Where the HTTP side listens: an IP address and a port.
public struct HTTPAddress: Sendable, Hashable, CustomStringConvertible {
    /// An IPv4 or IPv6 address, as written (without brackets).
    public var host: String
    /// The TCP port; 0 asks the system for a free one.
    public var port: Int

    /// An address from `HOST:PORT`, `[IPV6]:PORT` or a bare `PORT` (on 127.0.0.1).
    /// `localhost` means 127.0.0.1. Names are not looked up: give an IP address.
    /// - Throws: ``ServiceError/http(address:reason:)`` for a malformed address.
    public init(parsing text: String) throws(ServiceError) {
        func fail(_ reason: String) -> ServiceError { .http(address: text, reason: reason) }
        var host = "127.0.0.1"
        var portText = Substring(text)
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw fail("an IPv6 address in brackets lacks its ']'") }
            host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { throw fail("expected :PORT after the address") }
            portText = rest.dropFirst()
        } else if let colon = text.lastIndex(of: ":") {
            host = String(text[..<colon])
            portText = text[text.index(after: colon)...]
            if host == "localhost" { host = "127.0.0.1" }
            guard !host.contains(":") else { throw fail("write an IPv6 address in brackets: [::1]:PORT") }
        }
        guard let port = Int(portText), (0...65_535).contains(port) else { throw fail("the port must be a number from 0 to 65535") }
        guard HTTPAddress.isIPLiteral(host) else { throw fail("\(host) is not an IP address (names are not looked up)") }
        self.host = host
        self.port = port
    }

    /// An address as it is.
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Whether it is a loopback address (127.0.0.0/8 or ::1): reachable from this machine only.
    public var isLoopback: Bool { host.hasPrefix("127.") || host == "::1" }

    /// `HOST:PORT`, with IPv6 addresses in brackets.
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    static func isIPLiteral(_ s: String) -> Bool {
        if s.contains(":") { return !s.isEmpty && s.allSatisfy { $0.isHexDigit || $0 == ":" || $0 == "." } }
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { p in !p.isEmpty && p.count <= 3 && p.allSatisfy(\.isNumber) && Int(p).map { $0 <= 255 } == true }
    }
}
