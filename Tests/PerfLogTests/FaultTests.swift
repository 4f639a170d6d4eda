import Foundation
import LMDB
@testable import PerfLog
import PerfLogTestSupport
import Testing

/// A small tmpfs mounted for one test (the tests run as root, as CI does).
final class SmallDisk {
    let path: String
    init(_ path: String, size: String) throws {
        self.path = path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let (status, output) = try runCommand(["mount", "-t", "tmpfs", "-o", "size=\(size)", "tmpfs", path])
        guard status == 0 else {
            throw PerfLogError.cannotCreate(path: path, reason: "mounting a tmpfs for the test failed (the fault tests need root): \(output)")
        }
    }
    func resize(_ size: String) throws {
        let (status, output) = try runCommand(["mount", "-o", "remount,size=\(size)", path])
        guard status == 0 else { throw PerfLogError.cannotCreate(path: path, reason: output) }
    }
    deinit { _ = try? runCommand(["umount", "-l", path]) }
}

@Suite("Faults", .serialized)
struct FaultTests {
    func measures(_ n: Int, _ stream: StreamName, start: Int = 0) -> [Event] {
        (0..<n).map { .measure(stream, invocation: .random(), durationNs: UInt64(start + $0), outcome: .ok, wallTimeNs: Int64(start + $0), pid: 1,
                               meta: ["payload": String(repeating: "x", count: 200)]) }
    }

    @Test("a full disk fails the write with ENOSPC, keeps every earlier event, and recording resumes once space returns")
    func fullDisk() throws {
        let dir = try TemporaryDirectory()
        let disk = try SmallDisk(dir.path + "/disk", size: "512k")
        var options = EventLog.Options()
        options.retain = 1_000_000
        options.mapSize = 4 << 20
        let log = try EventLog(path: disk.path + "/log", options: options)
        let stream = try StreamName(agent: "planner", cli: "claude")
        var committed = 0
        var failure: PerfLogError?
        for i in 0..<200 {
            do {
                try log.append(measures(50, stream, start: i * 50))
                committed += 50
            } catch {
                failure = error
                break
            }
        }
        guard case .storage(let lmdb, _)? = failure else { Issue.record("the disk never filled: \(String(describing: failure))"); return }
        #expect(lmdb.code == .noSpace)
        #expect(failure?.description.contains("no space left") == true)
        #expect(committed > 0)
        try disk.resize("16m")
        // Every event committed before the failure is there, and the log takes more.
        let reopened = try EventLog(path: disk.path + "/log", options: options)
        #expect(try reopened.read { try $0.summary(stream)?.count } == committed)
        try reopened.append(measures(50, stream, start: 1_000_000))
        #expect(try reopened.read { try $0.summary(stream)?.count } == committed + 50)
        #expect(try reopened.read { try $0.verify() } == [])
    }

    @Test("a log on read-only media still serves reading, verifying and projecting elsewhere")
    func readOnlyMedia() throws {
        let dir = try TemporaryDirectory()
        let stream = try StreamName(agent: "planner", cli: "claude")
        do {
            let log = try EventLog(path: dir.path + "/log")
            try log.append(measures(30, stream))
        }
        let readOnly = dir.path + "/ro"
        try FileManager.default.createDirectory(atPath: readOnly, withIntermediateDirectories: true)
        #expect(try runCommand(["mount", "--bind", dir.path + "/log", readOnly]).status == 0)
        defer { _ = try? runCommand(["umount", "-l", readOnly]) }
        #expect(try runCommand(["mount", "-o", "remount,bind,ro", readOnly]).status == 0)
        let before = try Snapshot(readOnly).files
        var options = EventLog.Options()
        options.readOnly = true
        let log = try EventLog(path: readOnly, options: options)
        #expect(try log.read { try $0.tail(100) }.count == 30)
        #expect(try log.read { try $0.verify() } == [])
        let out = dir.path + "/agent-performance.json"
        #expect(try Projector.write(log: log, to: out) == .written)
        #expect(FileManager.default.fileExists(atPath: out))
        var exported = ""
        try log.exportEvents(.ndjson) { exported += $0 }
        #expect(exported.split(separator: "\n").count == 30)
        #expect(try Snapshot(readOnly).files == before)
        // A writer is refused with a clear error, not a crash.
        #expect(throws: PerfLogError.self) { _ = try EventLog(path: readOnly) }
    }

    @Test("the reader slot of a process killed mid-read is reclaimed when the log is next opened")
    func staleReader() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path + "/log"
        // This process keeps the log open throughout, as a long-running recorder would:
        // otherwise the next opener finds no one else and simply resets the lock file.
        let log = try EventLog(path: path)
        func killHolder() throws {
            let out = Pipe()
            let holder = try launchStress(["--log", path, "--events", "0", "--hold-read"], stdout: out, stderr: FileHandle.nullDevice)
            try? out.fileHandleForWriting.close()
            var reader = BlockingLineReader(fd: out.fileHandleForReading.fileDescriptor)
            #expect(reader.next() == "holding")
            kill(holder.processIdentifier, SIGKILL)
            holder.waitUntilExit()
        }
        // A killed reader leaves its slot behind…
        try killHolder()
        #expect(try log.environment.clearStaleReaders() == 1)
        // …and the next process to open the log reclaims it.
        try killHolder()
        let opener = try launchStress(["--log", path, "--events", "1"], stdout: FileHandle.nullDevice, stderr: FileHandle.nullDevice)
        opener.waitUntilExit()
        #expect(opener.terminationStatus == 0)
        #expect(try log.environment.clearStaleReaders() == 0)
    }

    @Test("a truncated or damaged data file is reported, never a crash, and left as it was")
    func damagedFile() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path + "/log"
        do {
            let log = try EventLog(path: path)
            for i in 0..<20 { try log.append(measures(100, try StreamName(agent: "a\(i)", cli: "c"))) }
        }
        let data = path + "/data.mdb"
        let original = try Data(contentsOf: URL(fileURLWithPath: data))

        // Truncated: half the file is gone.
        try original.prefix(original.count / 2).write(to: URL(fileURLWithPath: data))
        let truncated = try Data(contentsOf: URL(fileURLWithPath: data))
        var options = EventLog.Options()
        options.readOnly = true
        let error = #expect(throws: PerfLogError.self) { _ = try EventLog(path: path, options: options) }
        #expect(error?.description.contains("truncated") == true, "\(String(describing: error))")
        #expect(try Data(contentsOf: URL(fileURLWithPath: data)) == truncated)

        // Damaged: pages in the middle overwritten.
        var damaged = original
        let page = 4096
        for p in stride(from: 4, to: original.count / page - 1, by: 3) {
            damaged.replaceSubrange(p * page..<(p * page + page), with: Data(repeating: 0xA5, count: page))
        }
        try damaged.write(to: URL(fileURLWithPath: data))
        let outcome: Result<[Problem], any Error> = Result {
            let log = try EventLog(path: path, options: options)
            return try log.read { try $0.verify() }
        }
        switch outcome {
        case .success(let problems): #expect(!problems.isEmpty)
        case .failure(let error): #expect(error is PerfLogError, "\(error)")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: data)) == damaged)
    }
}
