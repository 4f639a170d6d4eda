import ArgumentParser
import PerfLog
#if canImport(Glibc)
import Glibc
#endif

/// The HTML report of a large log: what `perflog report` does, timed from the open log
/// to the written file.
struct ReportCase: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Milliseconds to project a large log and write its HTML report, and the file's size.")

    @Option(help: "Streams (agent × CLI pairs).") var streams = 10_000
    @Option(help: "Measures appended per stream.") var perStream = 100
    @Option(help: "Ring size.") var retain = 100
    @OptionGroup var common: CommonOptions

    func run() throws {
        let dir = makeTemporaryDirectory("report")
        defer { removeTree(dir) }
        let (log, appended) = try SyntheticLog.make(at: dir + "/log", streams: streams, perStream: perStream, retain: retain)
        let out = dir + "/perflog-report.html"
        var total: [Double] = [], render: [Double] = []
        var page: [UInt8] = []
        for _ in 0..<common.repeat {
            let t0 = monotonicNs()
            let projection = try log.read { try Projector.project($0, now: EventClock.wallNs()) }
            let t1 = monotonicNs()
            var options = HTMLReport.Options()
            options.logPath = log.path
            page = HTMLReport.render(projection, options: options)
            let t2 = monotonicNs()
            _ = try page.withUnsafeBytes { try AtomicFile.write($0, to: out) }
            total.append(Double(monotonicNs() - t0) / 1e6)
            render.append(Double(t2 - t1) / 1e6)
        }
        let html = String(decoding: page, as: UTF8.self)
        let rows = html.components(separatedBy: "<tr class=\"sf\"").count - 1
        let drawn = html.components(separatedBy: "<article class=\"stream\"").count - 1
        let options = HTMLReport.Options()
        let verified = html.hasSuffix("</html>\n") && rows == min(streams, options.overviewLimit)
            && drawn == min(streams, options.overviewLimit, options.detailLimit)

        var r = Report()
        r.add("case", "report")
        r.add("events", appended)
        r.add("streams", streams)
        r.add("measurements", streams * min(perStream, retain))
        r.add("file_bytes", page.count)
        r.add("median_ms", median(total))
        r.add("render_ms", median(render))
        r.add("verified", verified)
        print(r.line)
    }
}
