import Foundation
import PerfLogTestSupport
import Testing

@Suite("init: a log with its ring size and buckets chosen")
struct InitTests {
    @Test("the buckets chosen are the histogram's; asking an existing log for others exits 65 and changes nothing")
    func bucketsAreFixedAtCreation() throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("log")
        let created = try CLI.run(["init", "--retain", "7", "--buckets", "100ms,1s,10s", "--json", "--log", log])
        #expect(created.status == 0, "\(created)")
        let object = decodeObject(created.stdout)
        #expect(object["created"] as? Bool == true && object["retain"] as? Int == 7)
        #expect(object["buckets"] as? [Double] == [0.1, 1, 10])
        try CLI.record(log: log, duration: "2s")
        let metrics = try CLI.run(["export", "--format", "openmetrics", "--log", log]).stdout
        #expect(metrics.contains("le=\"1\"} 0\n") && metrics.contains("le=\"10\"} 1\n") && metrics.contains("le=\"+Inf\"} 1\n"), "\(metrics)")
        #expect(!metrics.contains("le=\"0.005\""), "\(metrics)")

        let before = try Data(contentsOf: URL(fileURLWithPath: log + "/data.mdb"))
        for (arguments, field) in [(["--buckets", "1s"], "--buckets"), (["--retain", "8"], "--retain")] {
            let r = try CLI.run(["init"] + arguments + ["--log", log])
            #expect(r.status == 65, "\(arguments): \(r)")
            #expect(r.stderr.hasPrefix("perflog: \(field): the log at \(log) exists"), "\(r.stderr)")
        }
        let same = try CLI.run(["init", "--retain", "7", "--buckets", "100ms,1s,10s", "--log", log])
        #expect(same.status == 0 && same.stdout.hasPrefix("a log is already at \(log)"), "\(same)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: log + "/data.mdb")) == before, "init changed an existing log")
    }

    @Test("bounds that break a rule exit 65 and create nothing",
          arguments: ["1s,100ms", "0,1s", "1s,1s", "", "1s,,2s", "fast", "-1s"])
    func badBucketsCreateNothing(buckets: String) throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("log")
        let r = try CLI.run(["init", "--buckets", buckets, "--log", log])
        #expect(r.status == 65, "\(buckets): \(r)")
        #expect(r.stderr.hasPrefix("perflog: --buckets: "), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: log), "\(buckets) created the log")
    }

    @Test("--label: a name Prometheus refuses exits 65; on a format without labels, 64; nothing is written")
    func labelsAreChecked() throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("log")
        try CLI.record(log: log)
        let out = dir.file("out.prom")
        let bad = try CLI.run(["export", "--format", "openmetrics", "--label", "9host=a", "--out", out, "--log", log])
        #expect(bad.status == 65 && bad.stderr.contains("label"), "\(bad)")
        let wrongFormat = try CLI.run(["export", "--format", "csv", "--label", "host=a", "--out", out, "--log", log])
        #expect(wrongFormat.status == 64, "\(wrongFormat)")
        #expect(!FileManager.default.fileExists(atPath: out))
        let serve = try CLI.run(["serve", "--label", "cli=x", "--socket", dir.file("s.sock"), "--log", log])
        #expect(serve.status == 65 && serve.stderr.contains("one of perflog's own labels"), "\(serve)")
    }
}
