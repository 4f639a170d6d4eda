import CoreMetrics
import Metrics
import MetricsTestKit
import PerfLog
import PerfLogMetrics
import PerfLogTestSupport
import Testing

@Suite("swift-metrics backend")
struct PerfLogMetricsFactoryTests {
    /// A recorder on a fresh log, and the log to read back once it is closed.
    struct Fixture {
        let dir: TemporaryDirectory
        let log: EventLog
        let recorder: PerfLog.Recorder

        init() throws {
            dir = try TemporaryDirectory()
            log = try EventLog(path: dir.file("log"))
            recorder = PerfLog.Recorder(log: log)
        }

        /// Every measure in the log once the recorder has committed all it was given.
        func measures() throws -> [Event] {
            try recorder.close()
            return try log.read { try $0.timeline() }.filter { $0.kind == .measure }
        }
    }

    @Test("a timer with agent and cli dimensions records each duration as a measure of that stream")
    func timerRecordsMeasures() throws {
        let f = try Fixture()
        let factory = PerfLogMetricsFactory(recorder: f.recorder)
        let timer = Timer(label: "agent.invocation", dimensions: [("agent", "planner"), ("cli", "claude"), ("model", "opus")],
                          factory: factory)
        timer.recordNanoseconds(812_413_000)
        timer.recordMilliseconds(5)
        timer.record(duration: .seconds(2))

        let measures = try f.measures()
        #expect(measures.map(\.durationNs) == [812_413_000, 5_000_000, 2_000_000_000])
        for m in measures {
            #expect(m.stream == (try StreamName(agent: "planner", cli: "claude")))
            #expect(m.outcome == .ok)
            #expect(m.meta == ["metric": "agent.invocation", "model": "opus"])
        }
        #expect(Set(measures.map(\.invocation)).count == 3)
    }

    @Test("bootstrapped as the metrics system, a plain Timer and Timer.measure record measures")
    func bootstrapped() async throws {
        let f = try Fixture()
        // The only bootstrap in the test process: swift-metrics allows one.
        MetricsSystem.bootstrap(PerfLogMetricsFactory(recorder: f.recorder))
        let dims = [("agent", "reviewer"), ("cli", "gemini")]
        Timer(label: "invoke", dimensions: dims).recordMilliseconds(3)
        let answer = Timer.measure(label: "invoke", dimensions: dims) { 42 }
        #expect(answer == 42)

        let measures = try f.measures()
        #expect(measures.count == 2)
        #expect(measures.first?.durationNs == 3_000_000)
        #expect(measures.allSatisfy { $0.stream.agent == "reviewer" && $0.stream.cli == "gemini" })
    }

    @Test("the outcome dimension marks failures, and every dimension name is configurable")
    func configurableDimensions() throws {
        let f = try Fixture()
        var options = PerfLogMetricsFactory.Options()
        options.agentDimension = "worker"
        options.cliDimension = "tool"
        options.outcomeDimension = "result"
        options.labelKey = nil
        let factory = PerfLogMetricsFactory(recorder: f.recorder, options: options)
        Timer(label: "run", dimensions: [("worker", "coder"), ("tool", "codex"), ("result", "failed")], factory: factory)
            .recordNanoseconds(7)
        Timer(label: "run", dimensions: [("worker", "coder"), ("tool", "codex"), ("result", "ok")], factory: factory)
            .recordNanoseconds(9)
        // The default names mean nothing under these options: no stream, so ignored.
        Timer(label: "run", dimensions: [("agent", "coder"), ("cli", "codex")], factory: factory).recordNanoseconds(11)

        let measures = try f.measures()
        #expect(measures.map(\.outcome) == [.failed, .ok])
        #expect(measures.map(\.durationNs) == [7, 9])
        #expect(measures.allSatisfy { $0.stream.agent == "coder" && $0.stream.cli == "codex" && $0.meta.isEmpty })
    }

    /// Timers perflog does not take, each for its own reason.
    static let foreignTimers: [(String, [(String, String)])] = [
        ("no stream dimensions", []),
        ("agent only", [("agent", "planner")]),
        ("cli only", [("cli", "claude")]),
        ("empty agent", [("agent", ""), ("cli", "claude")]),
        ("control character", [("agent", "plan\u{7}ner"), ("cli", "claude")]),
        ("too much metadata", [("agent", "planner"), ("cli", "claude")] + (0..<16).map { ("k\($0)", "v") }),
    ]

    @Test("timers that name no valid stream go to the fallback, and the log stays empty",
          arguments: foreignTimers.indices)
    func foreignTimersGoToFallback(_ index: Int) throws {
        let (label, dimensions) = Self.foreignTimers[index]
        let f = try Fixture()
        let fallback = TestMetrics()
        let factory = PerfLogMetricsFactory(recorder: f.recorder, fallback: fallback)
        Timer(label: label, dimensions: dimensions, factory: factory).recordNanoseconds(42)

        #expect(try fallback.expectTimer(label, dimensions).values == [42])
        #expect(try f.measures().isEmpty)
    }

    @Test("other metric kinds go to the fallback, or are ignored without one")
    func otherKinds() throws {
        let f = try Fixture()
        let fallback = TestMetrics()
        let dims = [("agent", "planner"), ("cli", "claude")]
        let withFallback = PerfLogMetricsFactory(recorder: f.recorder, fallback: fallback)
        Counter(label: "runs", dimensions: dims, factory: withFallback).increment(by: 3)
        Meter(label: "in_flight", dimensions: dims, factory: withFallback).set(2)
        CoreMetrics.Recorder(label: "tokens", dimensions: dims, factory: withFallback).record(512)
        #expect(try fallback.expectCounter("runs", dims).totalValue == 3)
        #expect(try fallback.expectMeter("in_flight", dims).lastValue == 2)
        #expect(try fallback.expectRecorder("tokens", dims).lastValue == 512)

        let alone = PerfLogMetricsFactory(recorder: f.recorder)
        Counter(label: "runs", dimensions: dims, factory: alone).increment()
        Meter(label: "in_flight", dimensions: dims, factory: alone).set(1)
        #expect(try f.measures().isEmpty)
    }

    @Test("a negative duration is dropped, not stored")
    func negativeDuration() throws {
        let f = try Fixture()
        let timer = Timer(label: "t", dimensions: [("agent", "a"), ("cli", "c")],
                          factory: PerfLogMetricsFactory(recorder: f.recorder))
        timer.recordNanoseconds(-5)
        timer.recordNanoseconds(5)
        #expect(try f.measures().map(\.durationNs) == [5])
    }
}
