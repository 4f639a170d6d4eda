import Foundation
import PerfLogTestSupport
import Testing

/// Runs perflog on a real pseudo-terminal (script(1)) of a chosen size, and through a
/// plain pipe, and checks what people see: lines that fit, colour only where it belongs,
/// ASCII under a non-UTF-8 locale.
@Suite("human output: terminal width, colour and character set")
struct TerminalOutputTests {
    /// A log with long names, a stream with few runs (rough figures) in microseconds, a
    /// stream with failures only, and streams long enough for a sparkline.
    static func log(in dir: TemporaryDirectory, shortNames: Bool = false) throws -> String {
        let log = dir.file(shortNames ? "short" : "log")
        var lines: [String] = []
        var n = 0
        func add(_ agent: String, _ cli: String, _ durations: [Double], failedEvery: Int = 0) {
            for (i, d) in durations.enumerated() {
                n += 1
                lines.append(Synthetic.measure(agent, cli, ms: String(d), at: n, ok: !(failedEvery > 0 && i % failedEvery == 0),
                                               invocation: n))
            }
        }
        if !shortNames {
            add("a-rather-long-agent-name-for-the-tests", "an-even-longer-cli-name-here", (0..<30).map { 800 + Double($0 % 9) * 11 },
                failedEvery: 10)
            add("tester", "broken", [5, 6], failedEvery: 1)
        }
        add("planner", "claude", [0.25, 0.26, 0.3])
        add("planner", "codex", (0..<20).map { 1000 + Double($0) * 50 })
        try Synthetic.load(lines, into: log, scratch: dir, name: shortNames ? "short.ndjson" : "long.ndjson")
        return log
    }

    /// What a terminal of `columns` columns shows of `perflog arguments…`: its status,
    /// the raw output (escape sequences and all) and the visible lines.
    static func onTerminal(
        _ arguments: [String], columns: Int, environment: [String: String] = [:]
    ) throws -> (status: Int32, raw: String, lines: [String]) {
        let command = "stty cols \(columns) rows 50; " + ([CLI.binary] + arguments).map(shellQuoted).joined(separator: " ")
        let r = try Program.run("/usr/bin/script", ["-qec", command, "/dev/null"], environment: CLI.environment(adding: environment),
                                mergingErrors: true, requiringUTF8: true)
        return (r.status, r.stdout, visibleLines(r.stdout))
    }

    /// `text` as lines without colour escapes and carriage returns.
    static func visibleLines(_ text: String) -> [String] {
        text.replacing(/\x{1b}\[[0-9;]*m/, with: "").replacingOccurrences(of: "\r", with: "")
            .split(separator: "\n").map(String.init)
    }

    static func shellQuoted(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }

    /// The column titles of a stats header line (IN FLIGHT as one).
    static func headers(_ line: String) -> [String] {
        line.replacingOccurrences(of: "IN FLIGHT", with: "IN_FLIGHT").split(separator: " ").map(String.init)
    }

    static let essential = ["AGENT", "CLI", "COUNT", "FAILURES", "MEAN", "P95"]
    static let everyColumn = ["AGENT", "CLI", "COUNT", "FAILURES", "IN_FLIGHT", "MEAN", "MIN", "P50", "P90", "P95", "P99", "MAX",
                              "STDDEV", "WINDOW"]

    #if os(Linux)
    @Test(arguments: [80, 160])
    func statsFitsTheTerminal(columns: Int) throws {
        let dir = try TemporaryDirectory()
        let log = try Self.log(in: dir)
        let r = try Self.onTerminal(["stats", "--log", log], columns: columns)
        #expect(r.status == 0, "\(r.raw)")
        #expect(r.lines.count == 6, "a header, four streams, the footnote: \(r.raw)")
        for line in r.lines { #expect(line.count <= columns, "\(line.count) columns: \(line)") }
        let header = try #require(r.lines.first.map(Self.headers))
        #expect(Set(Self.essential).isSubset(of: header), "\(header)")
        #expect(header == Self.everyColumn.filter(header.contains), "columns keep their order: \(header)")
        // Long names are cut with an ellipsis, short ones left alone.
        #expect(r.lines.contains { $0.hasPrefix("a-rather-long-") && $0.contains("…") }, "\(r.raw)")
        #expect(!r.lines.joined().contains("a-rather-long-agent-name-for-the-tests"))
        #expect(r.lines.contains { $0.hasPrefix("planner ") })
        if columns == 80 {
            #expect(!header.contains("WINDOW") && !header.contains("STDDEV"), "\(header)")
        } else {
            // The picture gives way before any figure.
            #expect(header == Self.everyColumn.filter { $0 != "WINDOW" }, "\(header)")
        }
        #expect(r.lines.last == "~ from fewer than 5 successful runs")
        #expect(r.lines.contains { $0.hasPrefix("planner ") && $0.contains("~270 µs") }, "rough figures are marked: \(r.raw)")
    }

    @Test func everyColumnShowsWhenTheTableFits() throws {
        let dir = try TemporaryDirectory()
        let log = try Self.log(in: dir, shortNames: true)
        let wide = try Self.onTerminal(["stats", "--log", log], columns: 160)
        #expect(wide.lines.first.map(Self.headers) == Self.everyColumn, "\(wide.raw)")
        for line in wide.lines { #expect(line.count <= 160, "\(line)") }
        // At 132 every figure shows; only the picture is left out.
        let full = try Self.onTerminal(["stats", "--log", log], columns: 132)
        #expect(full.lines.first.map(Self.headers) == Self.everyColumn.filter { $0 != "WINDOW" }, "\(full.raw)")
        for line in full.lines { #expect(line.count <= 132, "\(line)") }
        // Narrower, the columns go in their documented order, the essential ones last.
        let narrow = try Self.onTerminal(["stats", "--log", log], columns: 52)
        #expect(narrow.lines.first.map(Self.headers) == Self.essential, "\(narrow.raw)")
        for line in narrow.lines { #expect(line.count <= 52, "\(line)") }
    }

    @Test func coloursOnlyOnATerminalUnlessAsked() throws {
        let dir = try TemporaryDirectory()
        let log = try Self.log(in: dir)
        let escape = "\u{1b}["
        let terminal = try Self.onTerminal(["stats", "--log", log], columns: 120)
        #expect(terminal.raw.contains(escape), "\(terminal.raw)")
        // Failures in red (tester/broken failed twice), the header in bold.
        #expect(terminal.raw.contains("\u{1b}[31m2\u{1b}[0m"), "\(terminal.raw)")
        #expect(terminal.raw.contains("\u{1b}[1mAGENT\u{1b}[0m"), "\(terminal.raw)")

        let noColor = try Self.onTerminal(["stats", "--log", log], columns: 120, environment: ["NO_COLOR": "1"])
        #expect(!noColor.raw.contains(escape), "\(noColor.raw)")
        #expect(noColor.lines == terminal.lines, "the same text without colour")
        let emptyNoColor = try Self.onTerminal(["stats", "--log", log], columns: 120, environment: ["NO_COLOR": ""])
        #expect(emptyNoColor.raw.contains(escape), "an empty NO_COLOR does not count")
        let never = try Self.onTerminal(["stats", "--color", "never", "--log", log], columns: 120)
        #expect(!never.raw.contains(escape))

        let piped = try CLI.run(["stats", "--log", log])
        #expect(piped.status == 0 && !piped.stdout.isEmpty && !piped.stdout.contains(escape), "\(piped)")
        let always = try CLI.run(["stats", "--color", "always", "--log", log], environment: ["NO_COLOR": "1"])
        #expect(always.stdout.contains(escape), "\(always)")
        #expect(Self.visibleLines(always.stdout) == Self.visibleLines(piped.stdout))

        for command in [["compare", "--agent", "planner"], ["tail"]] {
            let shown = try Self.onTerminal(command + ["--log", log], columns: 120)
            #expect(shown.status == 0 && shown.raw.contains(escape), "\(command): \(shown.raw)")
            let plain = try CLI.run(command + ["--log", log])
            #expect(!plain.stdout.contains(escape), "\(command): \(plain)")
            #expect(try CLI.run(command + ["--color", "always", "--log", log]).stdout.contains(escape), "\(command)")
        }
        let bad = try CLI.run(["stats", "--color", "sometimes", "--log", log])
        #expect(bad.status == 64, "\(bad)")
    }

    @Test(arguments: [["LC_ALL": "C"], ["LC_ALL": "POSIX"], ["LANG": "C"], ["LC_CTYPE": "en_US.ISO-8859-1"]])
    func aNonUTF8LocaleGetsPlainASCII(environment: [String: String]) throws {
        let dir = try TemporaryDirectory()
        let log = try Self.log(in: dir)
        // LANG is pinned to C.UTF-8 for the tests: LC_ALL and LC_CTYPE win over it.
        let locale = environment
        let r = try Self.onTerminal(["stats", "--log", log], columns: 80, environment: locale)
        #expect(r.status == 0, "\(r.raw)")
        #expect(r.raw.utf8.allSatisfy { $0 < 0x80 }, "\(r.raw)")
        #expect(r.lines.contains { $0.contains("...") }, "a cut name ends in ...: \(r.raw)")
        #expect(r.lines.contains { $0.contains("~270 us") }, "\(r.raw)")
        #expect(r.lines.contains { $0.hasPrefix("tester") && $0.hasSuffix(" -") }, "\(r.raw)")
        for line in r.lines { #expect(line.count <= 80, "\(line)") }

        let wide = try Self.onTerminal(["stats", "--log", log], columns: 200, environment: locale)
        let codex = try #require(wide.lines.first { $0.hasPrefix("planner ") && $0.contains("codex") })
        let sparkline = try #require(codex.split(separator: " ").last)
        #expect(sparkline.count == 16 && sparkline.allSatisfy { "_.-=#x".contains($0) }, "\(codex)")
        #expect(wide.raw.utf8.allSatisfy { $0 < 0x80 }, "\(wide.raw)")

        for command in [["compare", "--agent", "planner"], ["tail", "-n", "40"]] {
            let piped = try CLI.run(command + ["--log", log], environment: locale)
            #expect(piped.status == 0 && piped.stdout.utf8.allSatisfy { $0 < 0x80 }, "\(command): \(piped)")
        }
        let compare = try CLI.run(["compare", "--agent", "planner", "--log", log], environment: locale)
        #expect(compare.stdout.contains("1.00x") && compare.stdout.contains(" +/- "), "\(compare)")
    }

    @Test func tailKeepsItsColumnsOnANarrowTerminal() throws {
        let dir = try TemporaryDirectory()
        let log = try Self.log(in: dir)
        let r = try Self.onTerminal(["tail", "-n", "40", "--log", log], columns: 80)
        #expect(r.status == 0, "\(r.raw)")
        for line in r.lines { #expect(line.count <= 80, "\(line)") }
        let header = try #require(r.lines.first)
        let cliColumn = try #require(header.range(of: "CLI")).lowerBound.utf16Offset(in: header)
        for line in r.lines.dropFirst() {
            let start = String.Index(utf16Offset: cliColumn, in: line)
            #expect(line[line.index(before: start)] == " " && line[start] != " ", "misaligned: \(line)")
        }
        #expect(r.lines.contains { $0.contains("a-rathe…") }, "\(r.raw)")
    }
    #endif

    @Test func columnsFromTheEnvironmentLimitAPipe() throws {
        let dir = try TemporaryDirectory()
        let log = try Self.log(in: dir)
        let r = try CLI.run(["stats", "--log", log], environment: ["COLUMNS": "80"])
        #expect(r.status == 0, "\(r)")
        for line in r.stdoutLines { #expect(line.count <= 80, "\(line)") }
        #expect(r.stdoutLines.first.map(Self.headers).map { !$0.contains("STDDEV") } == true, "\(r)")
        let full = try CLI.run(["stats", "--log", log])
        #expect(full.stdoutLines.first.map(Self.headers) == Array(Self.everyColumn.dropLast()), "no WINDOW into a pipe: \(full)")
        #expect(full.stdout.contains("a-rather-long-agent-name-for-the-tests"), "no limit into a pipe")
    }

    @Test func tailFollowingKeepsRowsAlignedWithTheHeader() throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("log")
        try CLI.record(log: log, agent: "a", cli: "b")
        let follower = try RunningCLI(["tail", "-f", "--log", log])
        #expect(follower.output.waitForLine { $0.contains(" a ") } != nil, "printed \(follower.output.allLines)")
        try CLI.record(log: log, agent: "an-agent-with-a-much-longer-name", cli: "and-a-long-cli-name")
        #expect(follower.output.waitForLine { $0.contains("an-agent") } != nil, "printed \(follower.output.allLines)")
        #expect(follower.stop() == 0)
        let lines = follower.output.allLines
        try #require(lines.count == 3, "\(lines)")
        for title in ["CLI", "KIND", "DURATION", "OUTCOME"] {
            let header = try #require(lines[0].range(of: title)).upperBound.utf16Offset(in: lines[0])
            for line in lines.dropFirst() {
                let at = String.Index(utf16Offset: title == "DURATION" ? header : header - title.count, in: line)
                if title == "DURATION" {
                    #expect(line[line.index(before: at)] != " " && line[at] == " ", "DURATION misaligned in \(lines)")
                } else {
                    #expect(line[line.index(before: at)] == " " && line[at] != " ", "\(title) misaligned in \(lines)")
                }
            }
        }
        #expect(lines[2].contains("an-agent-with-a-muc…") && lines[2].contains("and-a-long-…"), "\(lines)")
    }
}
