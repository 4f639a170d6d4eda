import Foundation
import PerfLogTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs `script` with `/bin/sh -c`, `$P` naming the perflog binary, in `directory`.
private func shell(_ script: String, in directory: String) throws -> (status: Int32, output: String) {
    try runProgram("/bin/sh", ["-c", "cd \"$1\" && P=\"$2\" && " + script, "sh", directory, CLI.binary])
}

private func mode(_ path: String) -> mode_t? {
    var st = stat()
    guard lstat(path, &st) == 0 else { return nil }
    return st.st_mode
}

private func octal(_ m: mode_t?) -> String { m.map { String($0 & 0o7777, radix: 8) } ?? "missing" }

@Suite("files perflog creates are private unless the directory is group-shared")
struct PrivateFileTests {
    @Test("under umask 022: a new log is 0700 with 0600 files; the projection and an export are 0600")
    func privateUnderUmask022() throws {
        let dir = try TemporaryDirectory()
        let (status, output) = try shell("""
            umask 022 && $P record --log log --agent a --cli c --duration 1 \
            && $P project --log log --out agent-performance.json \
            && $P export --log log --format csv --out events.csv
            """, in: dir.path)
        #expect(status == 0, "\(output)")
        #expect(octal(mode(dir.file("log"))) == "700")
        for file in ["log/data.mdb", "log/lock.mdb", "log/perflog.lock", "agent-performance.json", "events.csv"] {
            #expect(octal(mode(dir.file(file))) == "600", "\(file)")
        }
    }

    @Test("in a setgid directory under umask 002: the log is group-shared (2770, files 0660), never open to others")
    func groupSharedUnderSetgidDirectory() throws {
        let dir = try TemporaryDirectory()
        let shared = dir.file("shared")
        mkdir(shared, 0o775)
        chmod(shared, 0o2775)
        let (status, output) = try shell("""
            umask 002 && $P record --log shared/log --agent a --cli c --duration 1 \
            && $P project --log shared/log --out shared/agent-performance.json \
            && $P export --log shared/log --format ndjson --out shared/events.ndjson
            """, in: dir.path)
        #expect(status == 0, "\(output)")
        #expect(octal(mode(dir.file("shared/log"))) == "2770")
        for file in ["log/data.mdb", "log/lock.mdb", "log/perflog.lock", "agent-performance.json", "events.ndjson"] {
            #expect(octal(mode(shared + "/" + file)) == "660", "\(file)")
        }
    }

    @Test("a file perflog replaces keeps its mode (a textfile someone made readable stays readable)")
    func replacedFileKeepsItsMode() throws {
        let dir = try TemporaryDirectory()
        let (status, output) = try shell("""
            umask 022 && $P record --log log --agent a --cli c --duration 1 \
            && echo old > perflog.prom && chmod 644 perflog.prom \
            && $P export --log log --format openmetrics --out perflog.prom \
            && echo old > p.json && chmod 640 p.json && $P project --log log --out p.json --force
            """, in: dir.path)
        #expect(status == 0, "\(output)")
        #expect(octal(mode(dir.file("perflog.prom"))) == "644")
        #expect(octal(mode(dir.file("p.json"))) == "640")
        #expect(try String(contentsOfFile: dir.file("perflog.prom"), encoding: .utf8).contains("perflog_window_measures"))
    }
}

@Suite("--out: through links, into devices and FIFOs, never a directory")
struct OutputRulesTests {
    static let commands: [[String]] = [["export", "--format", "ndjson"], ["project"]]

    @Test("a symbolic link: its target is replaced, the link stays", arguments: commands)
    func throughASymlink(_ command: [String]) throws {
        let dir = try TemporaryDirectory()
        try CLI.record(log: dir.file("log"))
        mkdir(dir.file("real"), 0o700)
        #expect(symlink("real/target.out", dir.file("link.out")) == 0)
        let r = try CLI.run(command + ["--log", dir.file("log"), "--out", dir.file("link.out")])
        #expect(r.status == 0, "\(r)")
        #expect((mode(dir.file("link.out")) ?? 0) & S_IFMT == S_IFLNK, "the link was replaced")
        #expect((mode(dir.file("real/target.out")) ?? 0) & S_IFMT == S_IFREG)
        #expect(try String(contentsOfFile: dir.file("real/target.out"), encoding: .utf8).contains("planner"))
        // Again, now that the target exists.
        #expect(try CLI.run(command + ["--log", dir.file("log"), "--out", dir.file("link.out"), ] + (command[0] == "project" ? ["--force"] : [])).status == 0)
        #expect((mode(dir.file("link.out")) ?? 0) & S_IFMT == S_IFLNK)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.file("real")) == ["target.out"], "a temporary file was left")
    }

    @Test("a FIFO is written directly, not replaced", arguments: commands)
    func intoAFIFO(_ command: [String]) throws {
        let dir = try TemporaryDirectory()
        try CLI.record(log: dir.file("log"))
        let fifo = dir.file("pipe")
        #expect(mkfifo(fifo, 0o600) == 0)
        let reader = try RunningProgram("/bin/cat", [fifo])
        let r = try CLI.run(command + ["--log", dir.file("log"), "--out", fifo])
        #expect(r.status == 0, "\(r)")
        let text = reader.waitForOutput()
        #expect(text.contains("planner"), "\(text)")
        #expect((mode(fifo) ?? 0) & S_IFMT == S_IFIFO, "the FIFO was replaced")
    }

    @Test("/dev/full: the write error exits 74 and the device is still a device", arguments: commands)
    func intoAFullDevice(_ command: [String]) throws {
        let dir = try TemporaryDirectory()
        try CLI.record(log: dir.file("log"))
        let r = try CLI.run(command + ["--log", dir.file("log"), "--out", "/dev/full"] + (command[0] == "project" ? ["--force"] : []))
        #expect(r.status == 74, "\(r)")
        #expect(r.stderr.contains("/dev/full") && r.stderrLines.count == 1, "\(r)")
        #expect((mode("/dev/full") ?? 0) & S_IFMT == S_IFCHR, "/dev/full is no longer a character device")
        #expect(try FileManager.default.contentsOfDirectory(atPath: "/dev").filter { $0.hasPrefix(".full.tmp") }.isEmpty)
    }

    @Test("a directory is refused (73), untouched", arguments: commands)
    func intoADirectory(_ command: [String]) throws {
        let dir = try TemporaryDirectory()
        try CLI.record(log: dir.file("log"))
        mkdir(dir.file("out"), 0o700)
        let r = try CLI.run(command + ["--log", dir.file("log"), "--out", dir.file("out")])
        #expect(r.status == 73, "\(r)")
        #expect(r.stderrLines.count == 1, "\(r)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.file("out")).isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == ["log", "out"])
    }
}

/// A program left running with its standard output collected.
private final class RunningProgram {
    let process = Process()
    private let pipe = Pipe()

    init(_ path: String, _ arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.standardOutput = pipe
        try process.run()
        try? pipe.fileHandleForWriting.close()
    }

    /// Everything it wrote, once it has closed its output.
    func waitForOutput() -> String {
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    deinit { if process.isRunning { process.terminate() } }
}

@Suite("standard output that fails")
struct StandardOutputFailureTests {
    static let commands: [[String]] = [
        ["info", "--json"], ["info"], ["tail"], ["tail", "--json"], ["stats"], ["stats", "--json"],
        ["compare", "--agent", "planner"], ["export", "--format", "csv"], ["check"],
        ["record", "--agent", "a", "--cli", "c", "--duration", "1", "--json"],
    ]

    @Test("a full standard output (>/dev/full) exits 74 with one line saying so", arguments: commands)
    func fullStandardOutputExits74(_ command: [String]) throws {
        let dir = try TemporaryDirectory()
        try CLI.record(log: dir.file("log"))
        let quoted = command.map { "'\($0)'" }.joined(separator: " ")
        let (status, output) = try shell("$P \(quoted) --log log > /dev/full", in: dir.path)
        #expect(status == 74, "\(output)")
        #expect(output == "perflog: cannot write standard output: No space left on device\n", "\(output)")
    }

    @Test("a reader that goes away (perflog tail | head -1) ends perflog quietly with 141, as git does")
    func closedPipeEndsQuietly() throws {
        let dir = try TemporaryDirectory()
        let events = (1...3000).map { i in
            "{\"kind\":\"measure\",\"agent\":\"a\(i)\",\"cli\":\"c\",\"durationMs\":\(i),\"outcome\":\"ok\",\"time\":\"2026-01-01T00:00:00Z\",\"pid\":1,\"invocation\":\"\(String(format: "%016x", i))\"}"
        }.joined(separator: "\n") + "\n"
        try events.write(toFile: dir.file("events.ndjson"), atomically: true, encoding: .utf8)
        #expect(try CLI.run(["import", "--log", dir.file("log"), dir.file("events.ndjson")]).status == 0)
        for ignored in [false, true] {
            let trap = ignored ? "trap '' PIPE; " : ""
            let (status, output) = try shell("\(trap)$P tail -n 3000 --log log 2>err | head -1 >/dev/null; s=$?; echo ${s}; cat err",
                                             in: dir.path)
            _ = status
            #expect(output.isEmpty == false)
            // `$?` of a pipeline is head's; perflog's own status comes from a second run.
            let (_, own) = try shell("\(trap)($P tail -n 3000 --log log 2>err; echo $? > status) | head -1 >/dev/null; cat status err",
                                     in: dir.path)
            #expect(own == "141\n", "SIGPIPE \(ignored ? "ignored" : "default"): \(own)")
        }
    }
}

@Suite("command-line values that break a rule")
struct ArgumentRulesTests {
    @Test("invalid UTF-8 in an argument is refused (65) naming it; two bad names never merge into one stream")
    func invalidUTF8IsRefused() throws {
        let dir = try TemporaryDirectory()
        let (status, output) = try shell("$P record --log log --agent \"$(printf 'a\\377')\" --cli c --duration 1", in: dir.path)
        #expect(status == 65, "\(output)")
        #expect(output == "perflog: argument 5 ('a\\xFF') is not valid UTF-8; names and values must be UTF-8\n", "\(output)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("log")))
        let (metaStatus, _) = try shell("$P exec --log log --agent a --cli c --meta \"k=$(printf '\\376')\" -- true", in: dir.path)
        #expect(metaStatus == 65)
    }

    @Test("the command after exec -- gets its arguments byte for byte, invalid UTF-8 included")
    func execPassesRawBytes() throws {
        let dir = try TemporaryDirectory()
        let (status, output) = try shell(
            "$P exec --log log --agent a --cli c -- /bin/sh -c 'printf %s \"$1\" | od -An -tx1' sh \"$(printf 'x\\376y')\"", in: dir.path)
        #expect(status == 0, "\(output)")
        #expect(output.split(separator: " ").map(String.init).map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
                    .filter { !$0.isEmpty } == ["78", "fe", "79"], "\(output)")
    }

    @Test("a repeated --meta key is an error naming the key (record and exec, either parser)")
    func repeatedMetaKey() throws {
        let dir = try TemporaryDirectory()
        for arguments in [["record", "--duration", "1"], ["exec"]] {
            var line = arguments + ["--log", dir.file("log"), "--agent", "a", "--cli", "c", "--meta", "model=opus", "--meta", "model=sonnet"]
            if arguments[0] == "exec" { line += ["--", "true"] }
            let r = try CLI.run(line)
            #expect(r.status == 65, "\(r)")
            #expect(r.stderr == "perflog: meta: the key 'model' is given more than once; give each key once\n", "\(r)")
        }
        #expect(!FileManager.default.fileExists(atPath: dir.file("log")))
    }

    @Test("--exit-code outside 0…255 is refused (65)", arguments: ["-1", "256", "300", "2147483647"])
    func exitCodeRange(_ code: String) throws {
        let dir = try TemporaryDirectory()
        let r = try CLI.run(["record", "--log", dir.file("log"), "--agent", "a", "--cli", "c", "--duration", "1", "--exit-code", code])
        #expect(r.status == 65, "\(r)")
        #expect(r.stderr.contains("exit-code: must be from 0 to 255"), "\(r)")
    }

    @Test("numbers too large for their option are usage errors (64)", arguments: [
        ["tail", "-n", "99999999999999999999"], ["compact", "--retain", "99999999999999999999"],
        ["record", "--agent", "a", "--cli", "c", "--duration", "1", "--exit-code", "99999999999"],
        ["serve", "--max-connections", "99999999999999999999"], ["serve", "--line-timeout", "99999999999999999999"],
        ["serve", "--max-line-bytes", "1048577"], ["serve", "--max-line-bytes", "99999999999999999999"],
        ["serve", "--max-connections-per-user", "0"], ["serve", "--header-timeout", "99999999999999999999"],
        ["serve", "--http", "65536"],
    ])
    func numericOverflowIsAUsageError(_ arguments: [String]) throws {
        let dir = try TemporaryDirectory()
        let r = try CLI.run(arguments + ["--log", dir.file("log")])
        #expect(r.status == 64, "\(r)")
        #expect(r.stderrLines.count == 1, "\(r)")
    }
}

@Suite("bidirectional controls in names are refused everywhere")
struct BidirectionalNameTests {
    static let controls: [String] = ["\u{202E}", "\u{202A}", "\u{2066}", "\u{2069}", "\u{200E}", "\u{200F}", "\u{061C}"]

    @Test("record and exec refuse them (65)", arguments: controls)
    func cli(_ control: String) throws {
        let dir = try TemporaryDirectory()
        let r = try CLI.run(["record", "--log", dir.file("log"), "--agent", "evil" + control + "name", "--cli", "c", "--duration", "1"])
        #expect(r.status == 65, "\(r)")
        #expect(r.stderr.contains("agent: must not contain bidirectional control characters"), "\(r)")
        let e = try CLI.run(["exec", "--log", dir.file("log"), "--agent", "a", "--cli", control, "--", "true"])
        #expect(e.status == 65, "\(e)")
    }

    @Test("import refuses a file holding one (65), adding nothing")
    func importRefuses() throws {
        let dir = try TemporaryDirectory()
        let line = "{\"kind\":\"measure\",\"agent\":\"a\\u202Eb\",\"cli\":\"c\",\"durationMs\":1,\"outcome\":\"ok\",\"time\":\"2026-01-01T00:00:00Z\",\"pid\":1,\"invocation\":\"0000000000000001\"}\n"
        try line.write(toFile: dir.file("e.ndjson"), atomically: true, encoding: .utf8)
        let r = try CLI.run(["import", "--log", dir.file("log"), dir.file("e.ndjson")])
        #expect(r.status == 65, "\(r)")
        #expect(r.stderr.contains("bidirectional"), "\(r)")
    }

    @Test("the socket refuses the line with an error naming the field")
    func socketRefuses() throws {
        let dir = try TemporaryDirectory(prefix: "pl-bidi")
        let socket = dir.file("s.sock")
        let service = try Service(log: dir.file("log"), socket: socket)
        let line = "{\"kind\":\"measure\",\"agent\":\"a\\u202Eb\",\"cli\":\"c\",\"durationMs\":1,\"outcome\":\"ok\"}\n"
        let (status, output) = try runProgram("/usr/bin/env", ["python3", "-c", """
            import socket, sys
            s = socket.socket(socket.AF_UNIX)
            s.connect(sys.argv[1])
            s.sendall(sys.argv[2].encode())
            s.shutdown(socket.SHUT_WR)
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            print(data.decode(), end="")
            """, socket, line])
        #expect(status == 0, "\(output)")
        #expect(output.contains("\"field\":\"agent\"") && output.contains("bidirectional") && output.contains("{\"ack\":1}"), "\(output)")
        #expect(service.stop().status == 0)
    }
}

@Suite("CSV export neutralises formula cells")
struct CSVFormulaTests {
    @Test("a name beginning with = + - @ or a tab gets a ' in front; numbers are untouched",
          arguments: ["=HYPERLINK(\"http://x\")", "+1", "-2", "@SUM(A1)", "\tx"])
    func formulaCells(_ name: String) throws {
        let dir = try TemporaryDirectory()
        let r = try CLI.run(["record", "--log", dir.file("log"), "--agent", name, "--cli", "c", "--duration", "-0" == name ? "1" : "12.5ms", "--exit-code", "0"])
        // A tab is a control character: refused as a name long before CSV.
        if name.hasPrefix("\t") { #expect(r.status == 65); return }
        #expect(r.status == 0, "\(r)")
        let csv = try CLI.run(["export", "--log", dir.file("log"), "--format", "csv"])
        #expect(csv.status == 0, "\(csv)")
        let row = csv.stdout.split(separator: "\r\n")[1]
        let expected = name.contains("\"") || name.contains(",") ? "\"'" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : "'" + name
        #expect(row.contains("," + expected + ",c,"), "\(row)")
        #expect(row.contains(",12.500,ok,") || row.contains(",12.5,ok,"), "\(row)")
    }
}
