import Foundation
import PerfLogTestSupport
import Testing

@Suite("durations as people type them, in every flag that takes one")
struct DurationTests {
    @Test("record --duration: units, spelled-out units and compound durations", arguments: [
        ("812.4", "812.4"), ("1.5s", "1500"), ("250us", "0.25"), ("250µs", "0.25"), ("1e3 ns", "0.001"), ("2m", "120000"),
        ("1h", "3600000"), ("1h30m", "5400000"), ("2m5s", "125000"), ("2m 5s", "125000"), ("1m 30.5s", "90500"),
        ("5 minutes", "300000"), ("1 hour 2 min", "3720000"), ("3 Seconds", "3000"), ("1.5e1ms", "15"),
    ])
    func recorded(text: String, milliseconds: String) throws {
        let dir = try TemporaryDirectory()
        let line = try CLI.record(log: dir.file("log"), duration: text)
        #expect(line.contains("\"durationMs\":\(milliseconds),"), "\(text): \(line)")
    }

    @Test("serve --idle-exit takes a compound duration and stops after it")
    func idleExit() throws {
        let dir = try TemporaryDirectory()
        let r = try CLI.run(["serve", "--idle-exit", "0m0.5s", "--log", dir.file("log"), "--socket", dir.file("s.sock")])
        #expect(r.status == 0, "\(r)")
        let bad = try CLI.run(["serve", "--idle-exit", "1m30", "--log", dir.file("log"), "--socket", dir.file("s.sock")])
        #expect(bad.status != 0 && bad.stderr.contains("--idle-exit"), "\(bad)")
    }

    @Test("--wait, --abandon-after and --since take compound durations")
    func compoundElsewhere() throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("log")
        try CLI.record(log: log, duration: "1s")
        for arguments in [["tail", "--wait", "1m30s"], ["check", "--repair", "--abandon-after", "1h30m"],
                          ["stats", "--since", "1h30m"], ["compact", "--abandon-after", "2 hours"]] {
            let r = try CLI.run(arguments + ["--log", log])
            #expect(r.status == 0, "\(arguments): \(r)")
        }
        let bad = try CLI.run(["check", "--repair", "--abandon-after", "1h30", "--log", log])
        #expect(bad.status == 65 && bad.stderr.contains("--abandon-after: each part of a compound duration needs a unit"), "\(bad)")
    }
}
