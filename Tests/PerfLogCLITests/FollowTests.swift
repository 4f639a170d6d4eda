import Foundation
import PerfLogTestSupport
import Testing

@Suite("tail -f: follows events committed by other processes")
struct FollowTests {
    @Test func showsAnEventRecordedByAnotherProcess() throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("log")
        let first = try CLI.record(log: log, agent: "before", cli: "c")

        let follower = try RunningCLI(["tail", "-f", "--json", "--log", log])
        // Once the existing event is out, the follower is past its first read and polling.
        #expect(follower.output.waitForLine { $0 == first } != nil, "the initial tail never arrived")

        let second = try CLI.record(log: log, agent: "after", cli: "c")
        let seen = follower.output.waitForLine { $0 == second }
        #expect(seen != nil, "the follower never printed \(second); it printed \(follower.output.allLines)")

        follower.send(SIGINT)
        let (status, stderr) = follower.wait()
        #expect(status == 0, "\(stderr)")
        #expect(stderr.isEmpty)
        #expect(follower.output.allLines == [first, second])
    }

    @Test func waitsForTheLogToAppear() throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("not-yet/log")
        let follower = try RunningCLI(["tail", "-f", "--json", "--log", log])
        // Said once, before waiting: then the log is surely not there yet.
        let notice = "perflog: waiting for the log at \(log)"
        #expect(follower.errors.waitForLine { $0 == notice } != nil, "said \(follower.errors.allLines)")
        let recorded = try CLI.record(log: log, agent: "late", cli: "c")
        #expect(follower.output.waitForLine { $0 == recorded } != nil, "printed \(follower.output.allLines)")
        follower.send(SIGTERM)
        let (status, stderr) = follower.wait()
        #expect(status == 0, "\(stderr)")
        #expect(stderr == notice + "\n")
    }

    @Test func filtersWhileFollowing() throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("log")
        let follower = try RunningCLI(["tail", "-f", "--json", "--agent", "wanted", "--log", log])
        try CLI.record(log: log, agent: "other", cli: "c")
        let wanted = try CLI.record(log: log, agent: "wanted", cli: "c")
        #expect(follower.output.waitForLine { $0 == wanted } != nil)
        follower.send(SIGINT)
        let (status, stderr) = follower.wait()
        #expect(status == 0, "\(stderr)")
        #expect(follower.output.allLines == [wanted])
    }

    @Test func plainTailOfAMissingLogExits66AndCreatesNothing() throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("missing/log")
        for command in [["tail"], ["tail", "--json"], ["info"], ["info", "--json"]] {
            let r = try CLI.run(command + ["--log", log])
            #expect(r.status == 66, "\(r)")
            #expect(r.stderrLines.count == 1 && r.stderr.hasPrefix("perflog: no log at \(log)"), "\(r)")
            #expect(r.stdout.isEmpty)
            #expect(!FileManager.default.fileExists(atPath: dir.file("missing")))
        }
    }
}
