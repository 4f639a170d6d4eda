import Foundation
import Testing

/// What one run of a program did.
public struct ProgramResult: Sendable, CustomStringConvertible {
    /// The exit status, or 128+N when the process died of signal N.
    public var status: Int32
    /// Its standard output (with its standard error too, when the run merged them).
    public var stdout: String
    /// Its standard error; empty when the run merged it into ``stdout``.
    public var stderr: String

    /// A result with these values.
    public init(status: Int32, stdout: String, stderr: String) {
        self.status = status
        self.stdout = stdout
        self.stderr = stderr
    }

    /// Standard error split into lines, without the empty one after the last newline.
    public var stderrLines: [String] { stderr.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init) }
    /// Standard output split into lines (empty lines left out).
    public var stdoutLines: [String] { stdout.split(separator: "\n").map(String.init) }

    /// The status and both outputs, for a failed expectation's message.
    public var description: String { "status \(status)\nstdout: \(stdout)\nstderr: \(stderr)" }
}

/// Runs a program to its end, as the tests' one way of doing so, and captures what it did.
public enum Program {
    /// How long any one run may take before the test gives up on it: a guard against a
    /// hang, not a synchronisation device.
    public static let timeout: TimeInterval = 60

    /// Output that must be UTF-8 and is not.
    public struct NotUTF8: Error, CustomStringConvertible {
        /// Which program printed it.
        public let program: String
        /// What the error says.
        public var description: String { "\(program) printed bytes that are not UTF-8" }
    }

    /// Runs `path arguments…` and waits for it to end; a run past `timeout` seconds is
    /// terminated and recorded as an issue.
    /// - Parameters:
    ///   - directory: the working directory; the test's when `nil`.
    ///   - environment: the whole environment; the test's when `nil`.
    ///   - input: standard input; `/dev/null` when `nil`.
    ///   - mergingErrors: whether standard error goes to standard output (one stream, in
    ///     the order written) rather than to ``ProgramResult/stderr``.
    ///   - requiringUTF8: whether output that is not UTF-8 throws rather than being
    ///     decoded with replacement characters.
    /// - Throws: when the program cannot be started or its output read, and ``NotUTF8``.
    public static func run(
        _ path: String, _ arguments: [String], in directory: String? = nil, environment: [String: String]? = nil,
        input: String? = nil, mergingErrors: Bool = false, requiringUTF8: Bool = false, timeout: TimeInterval = timeout
    ) throws -> ProgramResult {
        let name = URL(fileURLWithPath: path).lastPathComponent
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        if let environment { process.environment = environment }
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        // Files, not pipes: a pipe read only after exit could fill up and block the child.
        let scratch = try TemporaryDirectory(prefix: "perflog-run")
        let outPath = scratch.file("stdout"), errPath = scratch.file("stderr")
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        let err = mergingErrors ? out : try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        process.standardOutput = out
        process.standardError = err
        if let input {
            let inPath = scratch.file("stdin")
            try input.write(toFile: inPath, atomically: true, encoding: .utf8)
            process.standardInput = try FileHandle(forReadingFrom: URL(fileURLWithPath: inPath))
        } else {
            process.standardInput = FileHandle.nullDevice
        }
        let done = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in done.signal() }
        try process.run()
        if done.wait(timeout: .now() + timeout) == .timedOut {
            process.terminate()
            done.wait()
            Issue.record("\(name) \(arguments) did not finish within \(timeout) s")
        }
        try out.close()
        if !mergingErrors { try err.close() }
        func text(_ file: String) throws -> String {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: file))
            if requiringUTF8 {
                guard let text = String(validating: bytes, as: UTF8.self) else { throw NotUTF8(program: name) }
                return text
            }
            return String(decoding: bytes, as: UTF8.self)
        }
        return ProgramResult(status: status(of: process), stdout: try text(outPath), stderr: try text(errPath))
    }

    /// The exit status of a finished process in the shell's convention: 128+N when it died
    /// of signal N.
    public static func status(of process: Process) -> Int32 {
        process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
    }
}

/// Runs a program (not perflog) with `input` on its standard input.
/// - Returns: its exit status and what it printed on standard output and error, as one text.
/// - Throws: when it cannot be started, or prints something that is not UTF-8.
public func runProgram(_ path: String, _ arguments: [String], input: String = "") throws -> (status: Int32, output: String) {
    let r = try Program.run(path, arguments, input: input, mergingErrors: true, requiringUTF8: true)
    return (r.status, r.stdout)
}

/// Runs a system command found on `PATH` (mount, umount, truncate) for a fault.
/// - Returns: its exit status and what it printed on standard output and error.
/// - Throws: when it cannot be started.
@discardableResult
public func runCommand(_ arguments: [String]) throws -> (status: Int32, output: String) {
    let r = try Program.run("/usr/bin/env", arguments, mergingErrors: true)
    return (r.status, r.stdout)
}

/// Runs a program that must succeed (exit 0; anything else is recorded as an issue at the
/// caller) and returns its standard output.
/// - Throws: when it cannot be started.
@discardableResult
public func runSucceeding(
    _ path: String, _ arguments: [String], input: String? = nil, timeout: TimeInterval = Program.timeout,
    sourceLocation: SourceLocation = #_sourceLocation
) throws -> String {
    let r = try Program.run(path, arguments, input: input, timeout: timeout)
    #expect(r.status == 0, "\(path) \(arguments) exited \(r.status): \(r.stderr)", sourceLocation: sourceLocation)
    return r.stdout
}
