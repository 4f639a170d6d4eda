import Foundation
import Testing

/// Finds the executables that `swift build` / `swift test` put in the products
/// directory beside the test bundle (`perflog`, `perflog-stress`), so that the tests
/// drive the real programs as separate processes.
public enum BuiltProducts {
    /// Looks for the executable `name` in the products directory.
    /// - Returns: its path, `nil` when it is nowhere to be found, and every path looked at.
    public static func locate(_ name: String) -> (path: String?, searched: [String]) {
        let fm = FileManager.default
        // The products directory holds both the test bundle (an executable on Linux, a
        // bundle run by a helper on macOS: …/debug/X.xctest/Contents/MacOS/X) and the
        // package's executables. Start from every place that names the bundle and walk
        // up a few levels.
        var starts: [URL] = []
        let args = CommandLine.arguments
        if let first = args.first { starts.append(URL(fileURLWithPath: first)) }
        if let i = args.firstIndex(of: "--test-bundle-path"), i + 1 < args.count { starts.append(URL(fileURLWithPath: args[i + 1])) }
        if let exe = Bundle.main.executablePath { starts.append(URL(fileURLWithPath: exe)) }
        starts.append(Bundle.main.bundleURL)
        starts += Bundle.allBundles.filter { $0.bundlePath.hasSuffix(".xctest") }.map(\.bundleURL)
        if let exe = try? fm.destinationOfSymbolicLink(atPath: "/proc/self/exe") { starts.append(URL(fileURLWithPath: exe)) }

        var searched: [String] = []
        for start in starts.flatMap({ [$0.standardizedFileURL, $0.resolvingSymlinksInPath()] }) {
            var dir = start.deletingLastPathComponent()
            for _ in 0..<4 {
                let candidate = dir.appendingPathComponent(name).path
                if !searched.contains(candidate) { searched.append(candidate) }
                if fm.isExecutableFile(atPath: candidate) { return (candidate, searched) }
                dir = dir.deletingLastPathComponent()
            }
        }
        return (nil, searched)
    }
}

/// `perflog-stress`: writes events one commit at a time, or holds the log's write lock,
/// for the concurrency, crash and damage tests.
public enum StressTool {
    /// The tool was not built, or not where `PERFLOG_STRESS` says.
    public struct Missing: Error, CustomStringConvertible {
        /// Every path looked at.
        public let searched: [String]
        /// What the error says, and how to mend it.
        public var description: String {
            "perflog-stress was not found (searched \(searched.joined(separator: ", "))); "
                + "build it with `swift build`, or set PERFLOG_STRESS to its path"
        }
    }

    /// The executable's path: `PERFLOG_STRESS`, else beside `PERFLOG_BINARY` when that is
    /// set, else in the products directory.
    /// - Throws: ``Missing`` when it is nowhere to be found: the tests that need it fail.
    public static func path() throws -> String {
        let environment = ProcessInfo.processInfo.environment
        if let explicit = environment["PERFLOG_STRESS"] {
            guard FileManager.default.isExecutableFile(atPath: explicit) else { throw Missing(searched: [explicit]) }
            return explicit
        }
        if let binary = environment["PERFLOG_BINARY"] {
            return URL(fileURLWithPath: binary).deletingLastPathComponent().appendingPathComponent("perflog-stress").path
        }
        let (path, searched) = BuiltProducts.locate("perflog-stress")
        guard let path else { throw Missing(searched: searched) }
        return path
    }

    /// Runs `perflog-stress arguments…` to its end and expects it to succeed (an issue at
    /// the caller otherwise, with what it printed).
    /// - Throws: ``Missing``, or when it cannot be started.
    public static func run(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
        // Its bigger runs commit thousands of times; the bound is against a hang only.
        let r = try Program.run(try path(), arguments, timeout: 600)
        #expect(r.status == 0, "perflog-stress \(arguments) ended with \(r.status): \(r.stderr)", sourceLocation: sourceLocation)
    }
}
