import Foundation
import Testing

/// Runs the built `perflog` binary as a user would and captures what it did.
enum CLI {
    /// How long any one run may take before the test gives up on it: a guard against a
    /// hang, not a synchronisation device.
    static let timeout: TimeInterval = 60

    /// The `perflog` executable built next to this test bundle.
    ///
    /// SwiftPM puts every product of a build in one directory; the test bundle runs
    /// from there (`…/debug/perflogPackageTests.xctest`), so the tool is its sibling.
    /// `PERFLOG_BINARY` overrides the search.
    static let binary: String = {
        if let override = ProcessInfo.processInfo.environment["PERFLOG_BINARY"] { return override }
        var candidates: [URL] = []
        let exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        candidates.append(exe.deletingLastPathComponent())
        if let selfExe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            candidates.append(URL(fileURLWithPath: selfExe).deletingLastPathComponent())
        }
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
            candidates.append(bundle.bundleURL.deletingLastPathComponent())
        }
        // On macOS the bundle is a directory: …/debug/X.xctest/Contents/MacOS/X.
        candidates += candidates.map { $0.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent() }
        for dir in candidates {
            let path = dir.appendingPathComponent("perflog").path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return candidates.first?.appendingPathComponent("perflog").path ?? "perflog"
    }()

    /// What one run did.
    struct Result: CustomStringConvertible {
        /// The exit status, or 128+N when the process died of signal N.
        var status: Int32
        var stdout: String
        var stderr: String

        /// Standard error split into lines, without the empty one after the last newline.
        var stderrLines: [String] { stderr.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init) }
        /// Standard output split into lines.
        var stdoutLines: [String] { stdout.split(separator: "\n").map(String.init) }

        var description: String { "status \(status)\nstdout: \(stdout)\nstderr: \(stderr)" }
    }

    /// Runs `perflog arguments…` in `directory` and waits for it to end.
    static func run(
        _ arguments: [String], in directory: String? = nil, environment: [String: String] = [:]
    ) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "PERFLOG_LOG")
        for (k, v) in environment { env[k] = v }
        process.environment = env
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        // Files, not pipes: a pipe read only after exit could fill up and block the child.
        let scratch = try TemporaryDirectory(prefix: "perflog-run")
        let outPath = scratch.path + "/stdout", errPath = scratch.path + "/stderr"
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        let err = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        let done = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in done.signal() }
        try process.run()
        if done.wait(timeout: .now() + timeout) == .timedOut {
            process.terminate()
            done.wait()
            Issue.record("perflog \(arguments) did not finish within \(timeout) s")
        }
        try out.close()
        try err.close()
        return Result(
            status: CLI.status(of: process),
            stdout: String(decoding: try Data(contentsOf: URL(fileURLWithPath: outPath)), as: UTF8.self),
            stderr: String(decoding: try Data(contentsOf: URL(fileURLWithPath: errPath)), as: UTF8.self))
    }

    /// The exit status of a finished process in the shell's convention.
    static func status(of process: Process) -> Int32 {
        process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
    }

    /// Records one measure in the log at `log` and returns its NDJSON line.
    @discardableResult
    static func record(
        log: String, agent: String = "planner", cli: String = "claude", duration: String = "812.4ms",
        extra: [String] = []
    ) throws -> String {
        let r = try run(["record", "--agent", agent, "--cli", cli, "--duration", duration, "--json", "--log", log] + extra)
        #expect(r.status == 0, "\(r)")
        return r.stdout.trimmingCharacters(in: .newlines)
    }
}

/// A fresh directory under the system temporary directory, removed when released.
final class TemporaryDirectory {
    let path: String

    init(prefix: String = "perflog-cli-tests") throws {
        path = NSTemporaryDirectory() + prefix + "-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// `path/name`.
    func file(_ name: String) -> String { path + "/" + name }
}

/// The exact bytes of every file under a directory (or of one file), to show that a
/// refused command changed nothing.
struct Snapshot: Equatable, CustomStringConvertible {
    var files: [String: Data]

    init(_ root: String) throws {
        files = [:]
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isDirectory) else { return }
        if !isDirectory.boolValue {
            files[""] = try Data(contentsOf: URL(fileURLWithPath: root))
            return
        }
        guard let walker = FileManager.default.enumerator(atPath: root) else { return }
        while let relative = walker.nextObject() as? String {
            let full = root + "/" + relative
            var dir: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: full, isDirectory: &dir)
            files[relative] = dir.boolValue ? Data("<dir>".utf8) : try Data(contentsOf: URL(fileURLWithPath: full))
        }
    }

    var description: String { files.keys.sorted().map { "\($0): \(files[$0]?.count ?? 0) bytes" }.joined(separator: ", ") }
}

/// Reads a running process's output pipe on a thread of its own and lets a test wait,
/// with a deadline, for a line that satisfies a condition.
final class LineReader: @unchecked Sendable {
    // @unchecked Sendable: `lines` and `closed` are only touched with `condition`
    // locked; the file handle is only read by the reader thread.
    private let condition = NSCondition()
    private var lines: [String] = []
    private var closed = false

    init(_ handle: FileHandle) {
        let thread = Thread { [self] in
            var pending = Data()
            while true {
                let chunk = handle.availableData
                condition.lock()
                if chunk.isEmpty {
                    closed = true
                    condition.broadcast()
                    condition.unlock()
                    return
                }
                pending.append(chunk)
                while let newline = pending.firstIndex(of: 0x0A) {
                    lines.append(String(decoding: pending[pending.startIndex..<newline], as: UTF8.self))
                    pending.removeSubrange(pending.startIndex...newline)
                }
                condition.broadcast()
                condition.unlock()
            }
        }
        thread.start()
    }

    /// Waits until some line satisfies `predicate` and returns it; `nil` when the pipe
    /// closed or `timeout` passed first.
    func waitForLine(timeout: TimeInterval = CLI.timeout, where predicate: (String) -> Bool) -> String? {
        let deadline = Date(timeIntervalSinceNow: timeout)
        condition.lock()
        defer { condition.unlock() }
        while true {
            if let line = lines.first(where: predicate) { return line }
            if closed { return nil }
            if !condition.wait(until: deadline) { return lines.first(where: predicate) }
        }
    }

    /// Every line read so far.
    var allLines: [String] {
        condition.lock()
        defer { condition.unlock() }
        return lines
    }
}

/// A `perflog` process left running (tail -f, exec of a long command), with its
/// standard output readable line by line as it arrives.
final class RunningCLI {
    let process = Process()
    let output: LineReader
    private let errorPipe = Pipe()
    private let done = DispatchSemaphore(value: 0)

    init(_ arguments: [String]) throws {
        let pipe = Pipe()
        process.executableURL = URL(fileURLWithPath: CLI.binary)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "PERFLOG_LOG")
        process.environment = env
        process.standardOutput = pipe
        process.standardError = errorPipe
        process.standardInput = FileHandle.nullDevice
        let done = self.done
        process.terminationHandler = { _ in done.signal() }
        output = LineReader(pipe.fileHandleForReading)
        try process.run()
        // Our copy of the write end would keep the pipe open after the child exits.
        try? pipe.fileHandleForWriting.close()
    }

    /// Sends `signal` to the process.
    func send(_ signal: Int32) { kill(process.processIdentifier, signal) }

    /// Waits for the process to end (killing it after the timeout) and returns its
    /// status in the shell's convention and its standard error.
    func wait() -> (status: Int32, stderr: String) {
        if done.wait(timeout: .now() + CLI.timeout) == .timedOut {
            Issue.record("perflog \(process.arguments ?? []) did not end within \(CLI.timeout) s")
            process.terminate()
            done.wait()
        }
        let stderr = String(decoding: errorPipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return (CLI.status(of: process), stderr)
    }

    deinit {
        if process.isRunning { process.terminate() }
    }
}

/// Decodes one NDJSON line into a dictionary, recording an issue when it is not JSON.
func decodeObject(_ line: String, sourceLocation: SourceLocation = #_sourceLocation) -> [String: Any] {
    guard let data = line.data(using: .utf8),
          let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
    else {
        Issue.record("not a JSON object: \(line)", sourceLocation: sourceLocation)
        return [:]
    }
    return object
}

/// The keys of a compact JSON object line, in the order they appear (top level only).
func keyOrder(_ line: String) -> [String] {
    var keys: [String] = []
    var depth = 0
    var inString = false
    var escaped = false
    var current = ""
    var expectingKey = false
    for ch in line {
        if inString {
            if escaped { escaped = false; current.append(ch); continue }
            if ch == "\\" { escaped = true; continue }
            if ch == "\"" {
                inString = false
                if expectingKey && depth == 1 { keys.append(current) }
                expectingKey = false
                continue
            }
            current.append(ch)
            continue
        }
        switch ch {
        case "{": depth += 1; expectingKey = true
        case "}": depth -= 1
        case ",": expectingKey = depth == 1
        case "\"": inString = true; current = ""
        default: break
        }
    }
    return keys
}
