import Foundation

/// Reads a running process's output pipe on a thread of its own and lets a test wait,
/// with a deadline, for a line that satisfies a condition.
public final class LineReader: @unchecked Sendable {
    // @unchecked Sendable: `lines`, `unterminated` and `closed` are only touched with
    // `condition` locked; the file handle is only read by the reader thread.
    private let condition = NSCondition()
    private var lines: [String] = []
    private var unterminated = Data()
    private var closed = false

    /// Starts reading `handle` until its end.
    public init(_ handle: FileHandle) {
        let thread = Thread { [self] in
            while true {
                let chunk = handle.availableData
                condition.lock()
                if chunk.isEmpty {
                    // Nothing holds the read end but this thread: without the close, a
                    // long run of processes (the file fuzzer's) runs out of descriptors.
                    try? handle.close()
                    closed = true
                    condition.broadcast()
                    condition.unlock()
                    return
                }
                unterminated.append(chunk)
                while let newline = unterminated.firstIndex(of: 0x0A) {
                    lines.append(String(decoding: unterminated[unterminated.startIndex..<newline], as: UTF8.self))
                    unterminated.removeSubrange(unterminated.startIndex...newline)
                }
                condition.broadcast()
                condition.unlock()
            }
        }
        thread.start()
    }

    /// Waits until some line satisfies `predicate` and returns it; `nil` when the pipe
    /// closed or `timeout` seconds passed first. A last line without a line feed is never
    /// offered: its writer may not have finished it.
    public func waitForLine(timeout: TimeInterval = Program.timeout, where predicate: (String) -> Bool) -> String? {
        let deadline = Date(timeIntervalSinceNow: timeout)
        condition.lock()
        defer { condition.unlock() }
        while true {
            if let line = lines.first(where: predicate) { return line }
            if closed { return nil }
            if !condition.wait(until: deadline) { return lines.first(where: predicate) }
        }
    }

    /// Waits (at most `timeout` seconds) for the end of the pipe; returns whether it came.
    @discardableResult
    public func waitForEnd(timeout: TimeInterval = Program.timeout) -> Bool {
        waitForLine(timeout: timeout) { _ in false } == nil && isClosed
    }

    /// Every complete line read so far, without line feeds.
    public var allLines: [String] {
        condition.lock()
        defer { condition.unlock() }
        return lines
    }

    /// Every byte read so far as text, a last line without its line feed included.
    public var text: String {
        condition.lock()
        defer { condition.unlock() }
        return lines.map { $0 + "\n" }.joined() + String(decoding: unterminated, as: UTF8.self)
    }

    private var isClosed: Bool {
        condition.lock()
        defer { condition.unlock() }
        return closed
    }
}
