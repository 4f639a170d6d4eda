import Foundation
@testable import PerfLogCLI
import PerfLogTestSupport
import Testing

/// What ArgumentParser makes of a command line: the request of `record` or `exec`, or
/// `nil` when it refuses the line or it names another command.
private func slowPath(_ arguments: [String]) -> FastPath.Request? {
    guard let command = try? Perflog.parseAsRoot(arguments) else { return nil }
    if let record = command as? Perflog.Record { return .record(record.request) }
    if let exec = command as? Perflog.Exec { return .exec(exec.request) }
    return nil
}

private let record = ["record", "--agent", "planner", "--cli", "claude", "--duration", "812.4ms"]
private let exec = ["exec", "--agent", "planner", "--cli", "claude"]

/// Lines the fast path must take, each with a reason to be in the table.
private let accepted: [[String]] = [
    record,
    ["record", "--duration", "1", "--cli", "c", "--agent", "a"],  // any order
    record + ["--failed"],
    record + ["--json", "--failed", "--exit-code", "3"],
    record + ["--exit-code", "0"],
    record + ["--exit-code", "+7"],  // Int32("+7") is 7 for both
    record + ["--exit-code", "2147483647"],
    record + ["--signal", "9"], record + ["--signal", "KILL", "--failed", "--json"],
    record + ["--signal", "nonsense"],  // a rule for run(), not for parsing
    record + ["--meta", "model=opus", "--meta", "effort=high", "--log", "/tmp/log"],
    record + ["--meta", "novalue"],  // a rule for run(), not for parsing
    record + ["--meta", "k=v", "--meta", "k=v"],
    ["record", "--agent", "record", "--cli", "exec", "--duration", "help"],  // words that are commands elsewhere
    ["record", "--agent", "a b", "--cli", "é", "--duration", "5 minutes"],
    ["record", "--agent", "bad\u{1}name", "--cli", "c", "--duration", "nan"],
    record + ["--log", "relative/log"],
    exec + ["--", "true"],
    exec + ["--meta", "k=v", "--log", "log", "--", "sh", "-c", "exit 3"],
    exec + ["--", "--agent", "x", "--", "--help"],  // everything after the first -- is the command
    exec + ["--", ""],
    ["exec", "--log", "l", "--cli", "c", "--agent", "a", "--", "make", "-j4"],
    record + ["--wait", "2s"], record + ["--wait", "2"], record + ["--wait", "250ms"], record + ["--wait", "0"],
    record + ["--wait", "86400"], record + ["--wait", "1.5"],
    exec + ["--wait", "2s", "--", "true"], exec + ["--log", "l", "--wait", "0.5", "--", "true"],
]

/// Lines the fast path must leave to ArgumentParser: help, errors, unusual spellings.
private let refused: [[String]] = [
    [], ["--help"], ["-h"], ["--version"], ["help"], ["help", "record"], ["tail"], ["info", "--json"],
    ["record"], ["record", "--help"], record + ["-h"], record + ["--help"],
    ["record", "--agent", "a", "--cli", "c"],  // --duration missing
    ["record", "--cli", "c", "--duration", "1"],
    record + ["--bogus"], record + ["extra"], record + ["--"], record + ["--", "x"],
    ["record", "--agent=a", "--cli", "c", "--duration", "1"],
    record + ["--failed", "--exit-code", "0"],  // validate() refuses it
    record + ["--signal", "9", "--exit-code", "1"], record + ["--exit-code", "0", "--signal", "TERM"],  // and these
    record + ["--signal", "-9"], record + ["--signal", "9", "--signal", "9"], record + ["--signal"],
    record + ["--exit-code", "x"], record + ["--exit-code", "99999999999"], record + ["--exit-code", "-1"],
    record + ["--duration", "2ms"], record + ["--agent", "other"],  // repeated options
    record + ["--json", "--json"], record + ["--failed", "--failed"],
    ["record", "--agent", "", "--cli", "c", "--duration", "1"],  // empty values
    ["record", "--agent", "-a", "--cli", "c", "--duration", "1"],  // values that begin with a dash
    record.dropLast() + ["-5ms"], record + ["--meta", "-x=1"], record + ["--log", "-"],
    record + ["--meta"], record + ["--log"],  // a value missing at the end
    record + ["--exec"], record + ["-agent", "a"], record + ["---agent", "a"],
    exec, exec + ["true"], exec + ["--"],  // no command
    exec + ["--duration", "1", "--", "true"], exec + ["--json", "--", "true"], exec + ["--failed", "--", "true"],
    exec + ["--agent", "again", "--", "true"],
    record + ["--wait", "1e20"], record + ["--wait", "86401"], record + ["--wait", "nan"], record + ["--wait", "-1s"],
    record + ["--wait", "5xs"], record + ["--wait", "2s", "--wait", "3s"], exec + ["--wait", "inf", "--", "true"],
    ["exec", "--cli", "c", "--", "true"],
    ["exec", "--agent", "a", "--cli=c", "--", "true"],
    ["frobnicate"], ["RECORD", "--agent", "a", "--cli", "c", "--duration", "1"],
]

@Suite("fast path: the same requests as ArgumentParser, or none")
struct FastPathTests {
    @Test(arguments: accepted)
    func takesPlainLinesAsArgumentParserDoes(_ arguments: [String]) throws {
        let fast = try #require(FastPath.parse(arguments), "the fast path should take \(arguments)")
        #expect(fast == slowPath(arguments), "\(arguments)")
    }

    @Test(arguments: refused)
    func leavesEverythingElseToArgumentParser(_ arguments: [String]) {
        #expect(FastPath.parse(arguments) == nil, "\(arguments)")
    }

    /// Random lines, mostly well formed and then mangled a little, from words that
    /// matter to either parser: whenever the fast path takes one, ArgumentParser must
    /// read it the same way.
    @Test func agreesWithArgumentParserOnRandomLines() {
        let words = [
            "a", "planner", "5ms", "1.5s", "k=v", "=v", "/tmp/log", "0", "3", "+4", "99999999999", "é", "help",
            "record", "exec", "true", "-1", "-5ms", "", "-", "--", "--agent", "--cli", "--duration", "--meta", "--log",
            "--failed", "--json", "--exit-code", "--agent=a", "--cli=c", "--bogus", "-h", "--help", "--version", "-c",
            "exit 0", "---agent", "--wait", "--signal", "KILL",
        ]
        let plain = ["a", "planner", "é", "help", "record", "exec", "a b", "k=v", "0"]
        var random = SplitMix(seed: 0x5EED)
        var taken = 0, refused = 0
        for _ in 0..<2000 {
            let isRecord = random.below(2) == 0
            var pairs: [[String]] = [["--agent", random.pick(plain)], ["--cli", random.pick(plain)]]
            if isRecord { pairs.append(["--duration", random.pick(["1", "812.4ms", "2.5s", "5xs", "nan"])]) }
            for _ in 0..<random.below(3) { pairs.append(["--meta", random.pick(["k=v", "x", "a=b=c", "=v"])]) }
            if random.below(3) == 0 { pairs.append(["--log", random.pick(["/tmp/log", "log", "a b"])]) }
            if random.below(3) == 0 { pairs.append(["--wait", random.pick(["2s", "3", "0.5", "1e20", "-1", "5xs", "100ms"])]) }
            if isRecord {
                if random.below(3) == 0 { pairs.append(["--exit-code", random.pick(["0", "3", "+4", "x", "99999999999"])]) }
                if random.below(4) == 0 { pairs.append(["--signal", random.pick(["9", "KILL", "sigterm", "0", "x"])]) }
                if random.below(3) == 0 { pairs.append(["--failed"]) }
                if random.below(3) == 0 { pairs.append(["--json"]) }
            }
            var line = [isRecord ? "record" : "exec"] + random.shuffled(pairs).flatMap { $0 }
            if !isRecord { line += ["--", random.pick(["true", "sh", "--help", ""])] }
            for _ in 0..<random.pick([0, 0, 1, 1, 2, 3]) {
                let at = random.below(line.count + 1)
                switch random.below(4) {
                case 0: line.insert(random.pick(words), at: at)
                case 1: if at < line.count { line.remove(at: at) }
                case 2: if at < line.count { line[at] = random.pick(words) }
                default: if at + 1 < line.count { line.swapAt(at, at + 1) }
                }
            }
            guard let fast = FastPath.parse(line) else {
                refused += 1
                continue
            }
            taken += 1
            #expect(fast == slowPath(line), "\(line)")
        }
        // Otherwise the comparison above proves little.
        #expect(taken >= 300 && refused >= 300, "the fast path took \(taken) lines and refused \(refused)")
    }
}

/// Running the binary: a line the fast path takes and the same request spelled so that
/// only ArgumentParser takes it (`--name=value`) end the same way.
@Suite("fast path and ArgumentParser: the same outcome end to end")
struct FastPathEndToEndTests {
    /// A request in the fast path's spelling, and what `--name=value` makes of it.
    struct Case: CustomTestStringConvertible, Sendable {
        var arguments: [String]
        var testDescription: String { arguments.joined(separator: " ") }

        /// The same line with every `--name value` pair before `--` joined into `--name=value`.
        var joined: [String] {
            var out: [String] = []
            var i = 0
            let names: Set = ["--agent", "--cli", "--duration", "--meta", "--log", "--wait", "--exit-code", "--signal"]
            while i < arguments.count {
                if arguments[i] == "--" { return out + arguments[i...] }
                if names.contains(arguments[i]) && i + 1 < arguments.count {
                    out.append(arguments[i] + "=" + arguments[i + 1])
                    i += 2
                } else {
                    out.append(arguments[i])
                    i += 1
                }
            }
            return out
        }
    }

    static let cases: [Case] = [
        Case(arguments: ["record", "--agent", "a", "--cli", "c", "--duration", "812.4ms", "--meta", "k=v", "--json"]),
        Case(arguments: ["record", "--agent", "a", "--cli", "c", "--duration", "2.5s", "--exit-code", "3", "--json"]),
        Case(arguments: ["record", "--agent", "a", "--cli", "c", "--duration", "1", "--failed", "--json"]),
        Case(arguments: ["record", "--agent", "a", "--cli", "c", "--duration", "1", "--signal", "SIGKILL", "--json"]),
        Case(arguments: ["record", "--agent", "a", "--cli", "c", "--duration", "1", "--signal", "99"]),
        Case(arguments: ["record", "--agent", "a", "--cli", "c", "--duration", "5xs"]),
        Case(arguments: ["record", "--agent", "a", "--cli", "c", "--duration", "1e400"]),
        Case(arguments: ["record", "--agent", "bad\u{1}name", "--cli", "c", "--duration", "1"]),
        Case(arguments: ["record", "--agent", "a", "--cli", String(repeating: "c", count: 129), "--duration", "1"]),
        Case(arguments: ["record", "--agent", "a", "--cli", "c", "--duration", "1", "--meta", "novalue"]),
        Case(arguments: ["exec", "--agent", "a", "--cli", "c", "--meta", "k=v", "--", "sh", "-c", "echo out; echo err >&2; exit 3"]),
        Case(arguments: ["exec", "--agent", "a", "--cli", "c", "--", "perflog-no-such-command"]),
        Case(arguments: ["exec", "--agent", "a", "--cli", "c", "--", "/perflog/no/such/file"]),
        Case(arguments: ["exec", "--agent", "a", "--cli", "c\tx", "--", "true"]),
        Case(arguments: ["exec", "--agent", "a", "--cli", "c", "--meta", "x", "--", "true"]),
        Case(arguments: ["record", "--agent", "a", "--cli", "c", "--duration", "1", "--meta", "k=1", "--meta", "k=2"]),
        Case(arguments: ["exec", "--agent", "a", "--cli", "c", "--meta", "k=1", "--meta", "k=1", "--", "true"]),
        Case(arguments: ["record", "--agent", "a", "--cli", "c", "--duration", "1", "--exit-code", "300"]),
        Case(arguments: ["record", "--agent", "a\u{202E}b", "--cli", "c", "--duration", "1"]),
    ]

    @Test(arguments: cases)
    func sameOutcome(_ c: Case) throws {
        #expect(FastPath.parse(c.arguments) != nil, "the fast path should take this line")
        #expect(FastPath.parse(c.joined) == nil, "only ArgumentParser should take \(c.joined)")

        var outcomes: [(CLI.Result, String)] = []
        for arguments in [c.arguments, c.joined] {
            let dir = try TemporaryDirectory()
            let log = dir.file("log")
            var withLog = arguments
            withLog.insert(contentsOf: ["--log", log], at: 1)
            let r = try CLI.run(withLog)
            let tail = try CLI.run(["tail", "--json", "--log", log])
            outcomes.append((r, tail.stdoutLines.map { Self.stable($0, timed: c.arguments[0] == "exec") }.joined(separator: "\n")))
        }
        let (fast, fastLog) = outcomes[0], (slow, slowLog) = outcomes[1]
        #expect(fast.status == slow.status, "fast: \(fast)\nslow: \(slow)")
        #expect(fast.stderr == slow.stderr, "fast: \(fast)\nslow: \(slow)")
        #expect(Self.stable(fast.stdout) == Self.stable(slow.stdout), "fast: \(fast)\nslow: \(slow)")
        #expect(fastLog == slowLog)
    }

    /// An NDJSON event without what differs between two runs (time, invocation, pid;
    /// for exec the duration it measured, and the seq, which depends on whether the
    /// command ended before the log was open and so got no mark); other text as it is.
    static func stable(_ text: String, timed: Bool = false) -> String {
        let varying = text.replacing(/"time":"[^"]*"|"invocation":"[0-9a-f]+"|"pid":\d+/, with: "…")
        return timed ? varying.replacing(/"durationMs":[0-9.e+-]+|"seq":\d+/, with: "…") : varying
    }
}

/// A small deterministic generator, so that a failure can be reproduced.
private struct SplitMix {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }

    mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }

    mutating func shuffled<T>(_ items: [T]) -> [T] {
        var items = items
        for i in stride(from: items.count - 1, to: 0, by: -1) { items.swapAt(i, below(i + 1)) }
        return items
    }
}
