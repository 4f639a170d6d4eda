import Foundation
import Testing

/// Runs the built `perflog` binary as a user would and captures what it did.
public enum CLI {
    /// How long any one run may take before the test gives up on it: a guard against a
    /// hang, not a synchronisation device.
    public static let timeout = Program.timeout

    /// The `perflog` executable built beside the test bundle; `PERFLOG_BINARY` overrides
    /// the search.
    public static let binary: String = {
        if let override = ProcessInfo.processInfo.environment["PERFLOG_BINARY"] { return override }
        let (path, searched) = BuiltProducts.locate("perflog")
        return path ?? searched.first ?? "perflog"
    }()

    /// What one run did.
    public typealias Result = ProgramResult

    /// The environment perflog runs in: the tests' own, without `PERFLOG_LOG` (every
    /// test names its log), with `extra` added. Human output depends on the locale,
    /// `COLUMNS` and `NO_COLOR`, so those are pinned (a UTF-8 locale, no width, colour
    /// allowed) wherever the tests run, unless `extra` sets them.
    public static func environment(adding extra: [String: String] = [:]) -> [String: String] {
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "PERFLOG_LOG")
        for name in ["COLUMNS", "NO_COLOR", "LC_ALL", "LC_CTYPE"] { env.removeValue(forKey: name) }
        env["LANG"] = "C.UTF-8"
        for (k, v) in extra { env[k] = v }
        return env
    }

    /// Runs `perflog arguments…` in `directory` and waits for it to end.
    /// - Parameter environment: variables added to ``environment(adding:)``.
    /// - Throws: when it cannot be started or its output read.
    public static func run(
        _ arguments: [String], in directory: String? = nil, environment: [String: String] = [:]
    ) throws -> Result {
        try Program.run(binary, arguments, in: directory, environment: Self.environment(adding: environment))
    }

    /// Records one measure in the log at `log` (expecting exit 0) and returns its NDJSON line.
    /// - Throws: when perflog cannot be started.
    @discardableResult
    public static func record(
        log: String, agent: String = "planner", cli: String = "claude", duration: String = "812.4ms",
        extra: [String] = [], sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> String {
        let r = try run(["record", "--agent", agent, "--cli", cli, "--duration", duration, "--json", "--log", log] + extra)
        #expect(r.status == 0, "\(r)", sourceLocation: sourceLocation)
        return r.stdout.trimmingCharacters(in: .newlines)
    }
}
