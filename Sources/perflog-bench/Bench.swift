import ArgumentParser
import PerfLog

@main
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "perflog-bench",
        abstract: "Benchmarks of perflog, one JSON line per case.",
        discussion: """
            Each case repeats its measurement (--repeat) and reports the median. The machine \
            may be shared and noisy: compare ratios between cases run together, not absolute \
            figures across runs.
            """,
        subcommands: [Ingest.self, CBaselineCase.self, RecordLatency.self, PeakRSS.self, OneShot.self, COneShot.self, ExecOverhead.self, ProjectCase.self, ReportCase.self, MetricsCase.self, ServeIngest.self, RedisBaseline.self, ClientsCase.self, ImportCase.self, CompactUnderLoad.self, CompactLoadWorker.self])
}

/// Options every case shares.
struct CommonOptions: ParsableArguments {
    @Option(help: "Repetitions; the median is reported.")
    var `repeat` = 5

    @Flag(help: "Print only the JSON line.")
    var json = false
}

/// One benchmark result: printed as a JSON object on one line.
struct Report {
    var fields: [(String, String)] = []

    mutating func add(_ key: String, _ value: String) { fields.append((key, JSONBuffer.quoted(value))) }
    mutating func add(_ key: String, _ value: Double) {
        fields.append((key, value.isFinite ? String(format3(value)) : "null"))
    }
    mutating func add(_ key: String, _ value: Int) { fields.append((key, String(value))) }
    mutating func add(_ key: String, _ value: Bool) { fields.append((key, value ? "true" : "false")) }

    var line: String { "{" + fields.map { JSONBuffer.quoted($0.0) + ":" + $0.1 }.joined(separator: ",") + "}" }

    private func format3(_ v: Double) -> String {
        let scaled = (v * 1000).rounded() / 1000
        if scaled == scaled.rounded() && abs(scaled) < 1e15 { return String(Int64(scaled)) }
        return String(scaled)
    }
}
