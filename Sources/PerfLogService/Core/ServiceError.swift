import PerfLog

/// Why a service could not start.
public enum ServiceError: Error, Sendable, CustomStringConvertible {
    /// The socket path cannot be used: too long, not a socket, or binding failed.
    case socket(path: String, reason: String)
    /// Another service is listening on the socket path.
    case socketInUse(path: String)
    /// The `--http` address is malformed or cannot be bound.
    case http(address: String, reason: String)
    /// The log could not be opened.
    case log(PerfLogError)
    /// The HTTP token file cannot be opened or read.
    case tokenFileUnreadable(path: String, reason: String)
    /// The HTTP token file could be read by others, is not this user's, or holds no
    /// usable token.
    case tokenFileUnsafe(path: String, reason: String)

    /// One line for a person.
    public var description: String {
        switch self {
        case .socket(let path, let reason): return "socket \(path): \(reason)"
        case .socketInUse(let path):
            return "socket \(path): another perflog serve is listening on it (stop it, or pass --socket PATH)"
        case .http(let address, let reason): return "http \(address): \(reason)"
        case .log(let error): return "\(error)"
        case .tokenFileUnreadable(let path, let reason), .tokenFileUnsafe(let path, let reason):
            return "token file \(path) \(reason)"
        }
    }
}
