import LMDB
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Selects streams by agent and/or CLI; `nil` matches any.
public struct StreamFilter: Sendable, Hashable {
    /// The agent to keep, or `nil` for every agent.
    public var agent: String?
    /// The CLI to keep, or `nil` for every CLI.
    public var cli: String?

    /// A filter; with no arguments it keeps everything.
    public init(agent: String? = nil, cli: String? = nil) {
        self.agent = agent
        self.cli = cli
    }

    /// Whether `stream` is kept.
    public func matches(_ stream: StreamName) -> Bool {
        (agent == nil || agent == stream.agent) && (cli == nil || cli == stream.cli)
    }

    /// Whether the filter keeps everything.
    public var isEmpty: Bool { agent == nil && cli == nil }
}
