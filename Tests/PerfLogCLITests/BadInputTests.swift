import Foundation
import PerfLogTestSupport
import Testing

/// One bad command line: the arguments (without `--log`), the exit status it must get,
/// and words its one-line message must contain.
struct BadInput: CustomTestStringConvertible, Sendable {
    var arguments: [String]
    var status: Int32
    var mentions: [String]

    var testDescription: String { arguments.map { $0.count > 24 ? String($0.prefix(12)) + "…" : $0 }.joined(separator: " ") }
}

private let record = ["record", "--agent", "planner", "--cli", "claude"]

private let badValues: [BadInput] = [
    // Names (65: the value breaks a rule).
    BadInput(arguments: ["record", "--agent", "", "--cli", "c", "--duration", "1"], status: 65, mentions: ["agent", "empty"]),
    BadInput(arguments: ["record", "--agent", String(repeating: "a", count: 129), "--cli", "c", "--duration", "1"],
             status: 65, mentions: ["agent", "128 bytes"]),
    BadInput(arguments: ["record", "--agent", "é" + String(repeating: "a", count: 127), "--cli", "c", "--duration", "1"],
             status: 65, mentions: ["agent", "128 bytes"]),
    BadInput(arguments: ["record", "--agent", "bad\u{1}name", "--cli", "c", "--duration", "1"], status: 65, mentions: ["agent", "control"]),
    BadInput(arguments: ["record", "--agent", "bad\nname", "--cli", "c", "--duration", "1"], status: 65, mentions: ["agent", "control"]),
    BadInput(arguments: ["record", "--agent", "a", "--cli", "", "--duration", "1"], status: 65, mentions: ["cli", "empty"]),
    BadInput(arguments: ["record", "--agent", "a", "--cli", "c\u{7f}", "--duration", "1"], status: 65, mentions: ["cli", "control"]),
    // Durations.
    BadInput(arguments: record + ["--duration", "-5ms"], status: 65, mentions: ["duration", "negative"]),
    BadInput(arguments: record + ["--duration", "-1"], status: 65, mentions: ["duration", "negative"]),
    BadInput(arguments: record + ["--duration", "nan"], status: 65, mentions: ["duration", "finite"]),
    BadInput(arguments: record + ["--duration", "NaN"], status: 65, mentions: ["duration", "finite"]),
    BadInput(arguments: record + ["--duration", "inf"], status: 65, mentions: ["duration", "finite"]),
    BadInput(arguments: record + ["--duration", "-infinity"], status: 65, mentions: ["duration", "finite"]),
    BadInput(arguments: record + ["--duration", "1e400"], status: 65, mentions: ["duration", "finite"]),
    BadInput(arguments: record + ["--duration", "5xs"], status: 65, mentions: ["duration", "unknown unit 'xs'"]),
    BadInput(arguments: record + ["--duration", "5 fortnights"], status: 65, mentions: ["duration", "unknown unit 'fortnights'"]),
    // Letters beyond ASCII are a unit too, and an unknown one is named.
    BadInput(arguments: record + ["--duration", "5 секунд"], status: 65, mentions: ["duration", "unknown unit 'секунд'"]),
    BadInput(arguments: record + ["--duration", "1h30"], status: 65, mentions: ["duration", "each part", "needs a unit"]),
    BadInput(arguments: record + ["--duration", "1h-30m"], status: 65, mentions: ["duration", "number"]),
    BadInput(arguments: record + ["--duration", "1 2"], status: 65, mentions: ["duration", "number"]),
    BadInput(arguments: record + ["--duration", "ms"], status: 65, mentions: ["duration", "number"]),
    BadInput(arguments: record + ["--duration", "0x10"], status: 65, mentions: ["duration", "number"]),
    BadInput(arguments: record + ["--duration", ""], status: 65, mentions: ["duration", "empty"]),
    BadInput(arguments: record + ["--duration", "1e30s"], status: 65, mentions: ["duration", "too large"]),
    // Metadata.
    BadInput(arguments: record + ["--duration", "1", "--meta", "novalue"], status: 65, mentions: ["meta", "KEY=VALUE"]),
    BadInput(arguments: record + ["--duration", "1", "--meta", "=v"], status: 65, mentions: ["meta", "empty"]),
    BadInput(arguments: record + ["--duration", "1", "--meta", "k=\u{1b}[31m"], status: 65, mentions: ["meta.k", "control"]),
    // Tail's values.
    BadInput(arguments: ["tail", "-n", "-1"], status: 64, mentions: ["lines", "0 or more"]),
    BadInput(arguments: ["tail", "--agent", ""], status: 65, mentions: ["agent", "empty"]),
    BadInput(arguments: ["tail", "-f", "--cli", "x\ty"], status: 65, mentions: ["cli", "control"]),
    // Exec checks its values before it runs anything.
    BadInput(arguments: ["exec", "--agent", "", "--cli", "c", "--", "sh", "-c", "exit 0"], status: 65, mentions: ["agent", "empty"]),
    BadInput(arguments: ["exec", "--agent", "a", "--cli", "c", "--meta", "x", "--", "true"], status: 65, mentions: ["meta"]),
    BadInput(arguments: ["exec", "--agent", "a", "--cli", "c", "--log", "", "--", "true"], status: 65, mentions: ["log", "empty"]),
]

private let badCommandLines: [BadInput] = [
    // Usage (64: the command line cannot be parsed).
    BadInput(arguments: record + ["--duration", "1", "--bogus"], status: 64, mentions: ["--bogus"]),
    BadInput(arguments: ["record", "--agent", "a", "--cli", "c"], status: 64, mentions: ["--duration"]),
    BadInput(arguments: ["record", "--cli", "c", "--duration", "1"], status: 64, mentions: ["--agent"]),
    BadInput(arguments: record + ["--duration", "1", "--failed", "--exit-code", "0"], status: 64, mentions: ["--failed", "--exit-code 0"]),
    BadInput(arguments: record + ["--duration", "1", "--exit-code", "x"], status: 64, mentions: ["--exit-code"]),
    BadInput(arguments: record + ["--duration", "1", "--exit-code", "99999999999"], status: 64, mentions: ["--exit-code"]),
    BadInput(arguments: record + ["--duration", "1", "extra"], status: 64, mentions: ["extra"]),
    BadInput(arguments: ["tail", "-n", "many"], status: 64, mentions: ["-n"]),
    BadInput(arguments: ["tail", "--bogus"], status: 64, mentions: ["--bogus"]),
    BadInput(arguments: ["info", "--bogus"], status: 64, mentions: ["--bogus"]),
    BadInput(arguments: ["exec", "--agent", "a", "--cli", "c"], status: 64, mentions: ["command", "--"]),
    BadInput(arguments: ["exec", "--agent", "a", "--cli", "c", "true"], status: 64, mentions: ["command", "--"]),
    BadInput(arguments: ["frobnicate"], status: 64, mentions: ["frobnicate"]),
]

@Suite("bad input: exit status, one line naming the field and rule, nothing written")
struct BadInputTests {
    @Test(arguments: badValues + badCommandLines)
    func refusedWithoutTouchingTheLog(_ input: BadInput) throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("log")
        try CLI.record(log: log)
        let marker = dir.file("command-ran")
        let before = try Snapshot(log)

        var arguments = input.arguments
        // Put --log before any `--`, so that it is parsed as perflog's option; only
        // subcommands have one, and a case may bring its own.
        if ["record", "exec", "tail", "info"].contains(arguments.first) && !arguments.contains("--log") {
            arguments.insert(contentsOf: ["--log", log], at: arguments.firstIndex(of: "--") ?? arguments.endIndex)
        }
        if arguments.first == "exec", let terminator = arguments.firstIndex(of: "--") {
            // Any command exec runs would leave this file behind.
            arguments = Array(arguments[...terminator]) + ["sh", "-c", "touch \(marker)"]
        }
        let r = try CLI.run(arguments)

        #expect(r.status == input.status, "\(r)")
        #expect(r.stderrLines.count == 1, "one line: \(r.stderr)")
        #expect(r.stderr.hasPrefix("perflog: "), "\(r)")
        for word in input.mentions { #expect(r.stderr.contains(word), "should mention \(word): \(r.stderr)") }
        #expect(r.stdout.isEmpty, "\(r)")
        #expect(try Snapshot(log) == before, "the log changed")
        #expect(!FileManager.default.fileExists(atPath: marker), "exec ran its command")
    }
}

/// Where `--log` points at something that is not a log.
@Suite("--log refused: not a log, cannot be created")
struct LogPathTests {
    private static let commands: [[String]] = [
        ["record", "--agent", "a", "--cli", "c", "--duration", "1"],
        ["tail"], ["tail", "--json"], ["info"], ["info", "--json"],
    ]

    private func expectRefused(_ path: String, status: Int32, mentions: String, commands: [[String]] = LogPathTests.commands,
                               sourceLocation: SourceLocation = #_sourceLocation) throws {
        let before = try Snapshot(path)
        for command in commands {
            let r = try CLI.run(command + ["--log", path])
            #expect(r.status == status, "\(command): \(r)", sourceLocation: sourceLocation)
            #expect(r.stderrLines.count == 1 && r.stderr.hasPrefix("perflog: ") && r.stderr.contains(mentions),
                    "\(command): \(r)", sourceLocation: sourceLocation)
            #expect(try Snapshot(path) == before, "\(command) changed \(path)", sourceLocation: sourceLocation)
        }
    }

    @Test func aRegularFile() throws {
        let dir = try TemporaryDirectory()
        let file = dir.file("file")
        try "precious".write(toFile: file, atomically: true, encoding: .utf8)
        try expectRefused(file, status: 74, mentions: "not a perflog log")
    }

    @Test func aDirectoryWithOtherFiles() throws {
        let dir = try TemporaryDirectory()
        let other = dir.file("project")
        try FileManager.default.createDirectory(atPath: other + "/src", withIntermediateDirectories: true)
        try "keep me".write(toFile: other + "/README", atomically: true, encoding: .utf8)
        try expectRefused(other, status: 74, mentions: "not a perflog log")
    }

    @Test func aDirectoryWhoseDataFileIsNotLMDB() throws {
        let dir = try TemporaryDirectory()
        let fake = dir.file("fake")
        try FileManager.default.createDirectory(atPath: fake, withIntermediateDirectories: true)
        try Data(repeating: 0x5A, count: 8192).write(to: URL(fileURLWithPath: fake + "/data.mdb"))
        try expectRefused(fake, status: 74, mentions: "not a perflog log")
    }

    @Test func aPathBelowARegularFile() throws {
        // Root ignores permission bits, but no one can make a directory inside a file.
        let dir = try TemporaryDirectory()
        let file = dir.file("file")
        try "precious".write(toFile: file, atomically: true, encoding: .utf8)
        let path = file + "/sub/log"
        try expectRefused(path, status: 73, mentions: "cannot create", commands: [LogPathTests.commands[0]])
        #expect(try String(contentsOfFile: file, encoding: .utf8) == "precious")
        try expectRefused(path, status: 66, mentions: "no log", commands: Array(LogPathTests.commands.dropFirst()))
    }

    @Test func aPathInAFileSystemThatRefusesDirectories() throws {
        // procfs refuses mkdir even to root.
        let path = "/proc/perflog-\(UUID().uuidString)/log"
        try expectRefused(path, status: 73, mentions: "cannot create", commands: [LogPathTests.commands[0]])
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test func anEmptyPath() throws {
        let r = try CLI.run(["info", "--log", ""])
        #expect(r.status == 65, "\(r)")
        #expect(r.stderrLines == ["perflog: log: must not be empty"])
    }
}
