import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A `perflog` process left running (`tail -f`, `project --watch`, `serve`, `exec` of a
/// long command), with its standard output and standard error readable line by line as
/// they arrive.
public final class RunningCLI {
    /// The process.
    public let process = Process()
    /// Its standard output.
    public let output: LineReader
    /// Its standard error.
    public let errors: LineReader
    private let done = DispatchSemaphore(value: 0)

    /// Starts `perflog arguments…` in `directory` (the test's when `nil`), in
    /// ``CLI/environment(adding:)``, with `/dev/null` as its standard input.
    /// - Throws: when it cannot be started.
    public init(_ arguments: [String], in directory: String? = nil) throws {
        let out = Pipe(), err = Pipe()
        process.executableURL = URL(fileURLWithPath: CLI.binary)
        process.arguments = arguments
        process.environment = CLI.environment()
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        let done = self.done
        process.terminationHandler = { _ in done.signal() }
        output = LineReader(out.fileHandleForReading)
        errors = LineReader(err.fileHandleForReading)
        try process.run()
        // Our copies of the write ends would keep the pipes open after the child exits.
        try? out.fileHandleForWriting.close()
        try? err.fileHandleForWriting.close()
    }

    /// Sends `signal` to the process.
    public func send(_ signal: Int32) { kill(process.processIdentifier, signal) }

    /// Waits for the process to end (killing it after ``CLI/timeout``, an issue) and
    /// returns its status in the shell's convention and everything it wrote on standard
    /// error, once that is closed.
    public func wait() -> (status: Int32, stderr: String) {
        if done.wait(timeout: .now() + CLI.timeout) == .timedOut {
            Issue.record("perflog \(process.arguments ?? []) did not end within \(CLI.timeout) s")
            process.terminate()
            done.wait()
        }
        errors.waitForEnd()
        return (Program.status(of: process), errors.text)
    }

    /// Sends `signal`, waits for the process to end and for both its outputs to close,
    /// and returns its status in the shell's convention.
    public func stop(_ signal: Int32 = SIGINT) -> Int32 {
        send(signal)
        let (status, _) = wait()
        output.waitForEnd()
        return status
    }

    deinit {
        if process.isRunning { process.terminate() }
    }
}
