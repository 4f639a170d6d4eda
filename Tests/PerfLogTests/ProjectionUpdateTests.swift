import Foundation
@testable import PerfLog
import PerfLogTestSupport
import Synchronization
import Testing

@Suite("Keeping the projection up to date")
struct ProjectionUpdateTests {
    func measures(in path: String) -> Int? {
        guard let data = FileManager.default.contents(atPath: path),
              let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let measurements = json["measurements"] as? [Any]
        else { return nil }
        return measurements.count
    }

    @Test("a recorder regenerates the projection after its commits")
    func recorderRegenerates() throws {
        let dir = try TemporaryDirectory()
        var options = Recorder.Options()
        options.projectionPath = dir.path + "/agent-performance.json"
        options.projectionDebounce = .milliseconds(5)
        let recorder = try Recorder(path: dir.path + "/log", options: options)
        for i in 0..<10 { try recorder.record(agent: "planner", cli: "claude", duration: .milliseconds(i + 1)) }
        try recorder.flush()
        eventually("the projection holds 10 measures") { measures(in: dir.path + "/agent-performance.json") == 10 }
        for i in 0..<5 { try recorder.record(agent: "coder", cli: "codex", duration: .milliseconds(i + 1)) }
        try recorder.close()
        #expect(measures(in: dir.path + "/agent-performance.json") == 15)
        #expect(recorder.counters.projectionsWritten >= 2)
        #expect(recorder.counters.projectionFailures == 0)
    }

    @Test("commits that keep coming do not put the projection off past its maximum lag")
    func recorderMaxLag() throws {
        let dir = try TemporaryDirectory()
        var options = Recorder.Options()
        options.projectionPath = dir.path + "/agent-performance.json"
        // Never idle long enough for the debounce: only the maximum lag can write it.
        options.projectionDebounce = .seconds(3600)
        options.projectionMaxLag = .zero
        let recorder = try Recorder(path: dir.path + "/log", options: options)
        for i in 0..<10 { try recorder.record(agent: "planner", cli: "claude", duration: .milliseconds(i + 1)) }
        try recorder.flush()
        eventually("the projection holds 10 measures while the recorder runs") {
            measures(in: dir.path + "/agent-performance.json") == 10
        }
        try recorder.close()
    }

    @Test("a projection that cannot be written is a warning, never a lost event")
    func recorderUnwritable() throws {
        let dir = try TemporaryDirectory()
        var options = Recorder.Options()
        options.projectionPath = dir.path + "/missing/agent-performance.json"
        options.projectionDebounce = .milliseconds(1)
        let recorder = try Recorder(path: dir.path + "/log", options: options)
        for i in 0..<10 { try recorder.record(agent: "planner", cli: "claude", duration: .milliseconds(i + 1)) }
        try recorder.close()
        #expect(recorder.counters.projectionFailures >= 1)
        #expect(recorder.counters.committed == 10)
        #expect(try recorder.summary(agent: "planner", cli: "claude")?.count == 10)
    }

    @Test("the watcher follows commits, warns while the target is unwritable and recovers")
    func watcher() throws {
        let dir = try TemporaryDirectory()
        let log = try EventLog(path: dir.path + "/log")
        let target = dir.path + "/out/agent-performance.json"
        let stop = Atomic(false)
        let reports = Mutex<[String]>([])
        var watcher = ProjectionWatcher(log: log, path: target)
        watcher.retryInterval = .milliseconds(20)
        let configured = watcher
        let thread = Thread {
            try? configured.run(until: { stop.load(ordering: .relaxed) }) { report in
                let text: String
                switch report {
                case .written: text = "written"
                case .unchanged: text = "unchanged"
                case .failed: text = "failed"
                case .recovered: text = "recovered"
                }
                reports.withLock { $0.append(text) }
            }
        }
        thread.start()
        defer { stop.store(true, ordering: .relaxed) }
        eventually("the watcher reports the missing directory") { reports.withLock { $0.contains("failed") } }
        try FileManager.default.createDirectory(atPath: dir.path + "/out", withIntermediateDirectories: true)
        eventually("the watcher recovers") { reports.withLock { $0.contains("recovered") } }
        #expect(measures(in: target) == 0)
        // Another writer (another EventLog on the same environment path would be another
        // process; here the same log) commits: the file follows.
        let stream = try StreamName(agent: "planner", cli: "claude")
        try log.append((0..<7).map { _ in .measure(stream, invocation: .random(), durationNs: 5, outcome: .ok, wallTimeNs: 1, pid: 1) })
        eventually("the projection holds the new measures") { measures(in: target) == 7 }
    }
}
