import Foundation
import PerfLogTestSupport
import Testing

/// Builds import input by hand, so that tests choose every duration, time and outcome
/// and load hundreds of events with one `perflog import` instead of one process each.
enum Synthetic {
    /// An ISO 8601 UTC time `second` seconds (plus `micro` microseconds) after
    /// 2026-01-19T00:00:00Z; `second` is below one day.
    static func time(_ second: Int, micro: Int = 0) -> String {
        precondition(second >= 0 && second < 86_400)
        return String(format: "2026-01-19T%02d:%02d:%02d.%06dZ", second / 3600, second / 60 % 60, second % 60, micro)
    }

    /// A JSON string literal (enough escaping for test names: quotes and backslashes).
    static func quoted(_ s: String) -> String {
        "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    /// One NDJSON measure line.
    static func measure(
        _ agent: String, _ cli: String, ms: String, at second: Int, ok: Bool = true, invocation: Int
    ) -> String {
        "{\"time\":\"\(time(second))\",\"kind\":\"measure\",\"agent\":\(quoted(agent)),\"cli\":\(quoted(cli)),"
            + "\"invocation\":\"\(String(format: "%016x", invocation))\",\"durationMs\":\(ms),"
            + "\"outcome\":\"\(ok ? "ok" : "failed")\"\(ok ? "" : ",\"exitCode\":1"),\"pid\":42}"
    }

    /// One NDJSON mark line (an invocation still in flight).
    static func mark(_ agent: String, _ cli: String, at second: Int, invocation: Int) -> String {
        "{\"time\":\"\(time(second))\",\"kind\":\"mark\",\"agent\":\(quoted(agent)),\"cli\":\(quoted(cli)),"
            + "\"invocation\":\"\(String(format: "%016x", invocation))\",\"pid\":43}"
    }

    /// Writes `lines` as an NDJSON file and imports it into `log`.
    static func load(_ lines: [String], into log: String, scratch: TemporaryDirectory, name: String = "load.ndjson") throws {
        let file = scratch.file(name)
        try (lines.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        let r = try CLI.run(["import", file, "--log", log])
        #expect(r.status == 0, "\(r)")
    }

    /// A log of five streams of four agents: failures, an open mark, a stream with
    /// failures only, and names with a comma, a quote and non-ASCII letters.
    static func mixedLog(in dir: TemporaryDirectory) throws -> String {
        let log = dir.file("log")
        var lines: [String] = []
        var invocation = 1
        func add(_ agent: String, _ cli: String, _ durations: [Double], failedEvery: Int = 0, from start: Int) {
            for (i, d) in durations.enumerated() {
                let failed = failedEvery > 0 && i % failedEvery == failedEvery - 1
                lines.append(measure(agent, cli, ms: String(d), at: start + i, ok: !failed, invocation: invocation))
                invocation += 1
            }
        }
        add("planner", "claude", (0..<40).map { 800 + Double($0 % 7) * 13.5 }, failedEvery: 9, from: 0)
        add("planner", "codex", (0..<25).map { 700 + Double($0 % 5) * 21.25 }, from: 100)
        add("reviewer", "gemini", [0.001, 1e7, 55.5], from: 200)
        add("we,ird\"name", "crème", (0..<5).map { 12 + Double($0) }, from: 300)
        add("tester", "broken", [5, 6], failedEvery: 1, from: 400)
        lines.append(mark("planner", "claude", at: 500, invocation: 9999))
        try load(lines, into: log, scratch: dir)
        return log
    }
}

/// Runs `perflog arguments…` with the file at `stdin` as its standard input.
func runCLI(_ arguments: [String], stdin: String) throws -> CLI.Result {
    // Through the shell, so that the harness's way of running perflog stays the only one.
    let command = ([CLI.binary] + arguments).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        .joined(separator: " ") + " < '\(stdin)' 2> '\(stdin).err'"
    let (status, output) = try runProgram("/bin/sh", ["-c", command])
    let stderr = (try? String(contentsOfFile: stdin + ".err", encoding: .utf8)) ?? ""
    return CLI.Result(status: status, stdout: output, stderr: stderr)
}

/// The objects of an `agent-performance.json` array section (`streams` or
/// `comparisons`), one line each as the file writes them, without indentation or comma.
func objectLines(ofSection section: String, in file: String) throws -> [String] {
    let text = try String(contentsOfFile: file, encoding: .utf8)
    var inside = false
    var out: [String] = []
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
        if line.hasPrefix("  \"\(section)\": [") {
            inside = !line.hasSuffix("[],")
            continue
        }
        guard inside else { continue }
        if line.hasPrefix("  ]") { break }
        var object = line.dropFirst(4)
        if object.hasSuffix(",") { object = object.dropLast() }
        out.append(String(object))
    }
    return out
}

/// The objects of a JSON array printed one object a line (`stats --json`).
func arrayLines(_ text: String) -> [String] {
    text.split(separator: "\n").filter { $0 != "[" && $0 != "]" && $0 != "[]" }.map { line in
        var object = line.dropFirst(2)
        if object.hasSuffix(",") { object = object.dropLast() }
        return String(object)
    }
}

/// The device, inode, size and modification time of a file: what changes when it is
/// rewritten, even with the same bytes.
func fileIdentity(_ path: String) -> [Int] {
    var st = stat()
    guard stat(path, &st) == 0 else { return [] }
    #if canImport(Darwin)
    let mtime = st.st_mtimespec
    #else
    let mtime = st.st_mtim
    #endif
    return [Int(st.st_dev), Int(st.st_ino), Int(st.st_size), Int(mtime.tv_sec), Int(mtime.tv_nsec)]
}
