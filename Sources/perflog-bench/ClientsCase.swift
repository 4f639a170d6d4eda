import ArgumentParser
import LMDB
import PerfLog
#if canImport(Glibc)
import Glibc
#endif

/// The Node.js and Python clients against the in-process recorder, interleaved: each
/// repetition records the same number of invocations (a mark and a measure each)
/// in process, then through each client's own bench script (`clients/*/bench`), which
/// starts a `perflog serve` of the perflog built beside this benchmark.
struct ClientsCase: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clients",
        abstract: "Invocations per second through the Node.js and Python clients, beside the in-process Recorder.",
        discussion: """
            Run from the repository's root (the clients' bench scripts are found under \
            clients/). Each client script prints a last line of JSON with events_per_s \
            (events a second, acknowledged: each invocation is a mark and a measure, two \
            events) and call_p50_ns (the synchronous cost of start and end to the \
            caller); this case reports each one's median and its ratio to the in-process \
            figure (a Recorder's start and end, committed) of the same run.
            """)

    @Option(help: "Invocations per run (each a mark and a measure).") var events = 100_000
    @Option(help: "Streams the invocations are spread over.") var streams = 6
    @Option(help: "The Node.js bench script.") var node = "clients/node/bench/bench.js"
    @Option(help: "The Python bench script.") var python = "clients/python/bench/bench.py"
    @OptionGroup var common: CommonOptions

    func run() throws {
        let perflog = try perflogBinary()
        setenv("PERFLOG_BIN", perflog, 1)
        let names = try (0..<streams).map { try StreamName(agent: "agent-\($0 / 2)", cli: "cli-\($0 % 2)") }
        var inProcess: [Double] = [], nodeRates: [Double] = [], pythonRates: [Double] = []
        var nodeCalls: [Double] = [], pythonCalls: [Double] = []
        var verified = true
        for _ in 0..<common.repeat {
            inProcess.append(try recordInProcess(names))
            for (script, interpreter) in [(node, "node"), (python, "python3")] {
                let dir = makeTemporaryDirectory("clients")
                defer { removeTree(dir) }
                let line = try runScript([interpreter, script, "--events", String(events), "--log", dir + "/log"])
                let rate = line.number("events_per_s"), call = line.number("call_p50_ns")
                verified = verified && line.flag("verified")
                if interpreter == "node" { nodeRates.append(rate); nodeCalls.append(call) }
                else { pythonRates.append(rate); pythonCalls.append(call) }
            }
        }
        var r = Report()
        r.add("case", "clients")
        r.add("events", events)
        r.add("in_process_events_per_s", median(inProcess))
        r.add("node_events_per_s", median(nodeRates))
        r.add("python_events_per_s", median(pythonRates))
        r.add("node_vs_in_process", median(nodeRates) / median(inProcess))
        r.add("python_vs_in_process", median(pythonRates) / median(inProcess))
        r.add("node_call_p50_ns", median(nodeCalls))
        r.add("python_call_p50_ns", median(pythonCalls))
        r.add("verified", verified)
        print(r.line)
    }

    /// Events a second (a mark and a measure an invocation) through a Recorder's start
    /// and end, committed (closed).
    func recordInProcess(_ names: [StreamName]) throws -> Double {
        let dir = makeTemporaryDirectory("clients-in-process")
        defer { removeTree(dir) }
        var options = EventLog.Options()
        options.retain = max(100, events / names.count + 1)
        let recorder = Recorder(log: try EventLog(path: dir + "/log", options: options))
        let start = monotonicNs()
        for i in 0..<events {
            recorder.end(recorder.start(names[i % names.count]))
        }
        try recorder.close()
        return Double(2 * events) / (Double(monotonicNs() - start) / 1e9)
    }

    /// Runs a client's bench script (PATH from this process's environment) and returns
    /// the JSON object of its last line of output.
    func runScript(_ argv: [String]) throws -> ScriptResult {
        let (pid, fd) = try spawnReadingOutput(argv, searchPath: true)
        let output = POSIXIO.readAll(fd, chunkBytes: 65_536, limit: 16 << 20)
        close(fd)
        var status: Int32 = 0
        _ = POSIXIO.retryingInterrupts { waitpid(pid, &status, 0) }
        guard status == 0 else { throw BenchError("\(argv.joined(separator: " ")) failed (status \(status))") }
        let text = String(decoding: output.bytes, as: UTF8.self)
        guard let last = text.split(separator: "\n").last else { throw BenchError("\(argv[1]) printed nothing") }
        return try ScriptResult(String(last))
    }
}

/// The fields of a client bench's JSON line.
struct ScriptResult {
    var fields: [(key: String, value: JSONValue)]

    init(_ line: String) throws {
        let bytes = Array(line.utf8)
        let value = try bytes.withUnsafeBufferPointer { b in
            var parser = JSONParser(b, from: 0, to: b.count)
            return try parser.document()
        }
        guard case .object(let members) = value else { throw BenchError("not a JSON object: \(line)") }
        fields = members
    }

    func number(_ key: String) -> Double {
        guard case .number(let n)? = fields.first(where: { $0.key == key })?.value else { return .nan }
        return Double(n.text) ?? .nan
    }

    func flag(_ key: String) -> Bool {
        guard case .bool(let b)? = fields.first(where: { $0.key == key })?.value else { return false }
        return b
    }
}
