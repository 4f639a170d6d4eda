import Foundation
import PerfLog
import PerfLogTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads lines from a pipe with plain blocking `read(2)`, so a test can act (e.g. kill
/// the writer) right after a given line arrives.
struct BlockingLineReader {
    let fd: Int32
    private var buffer: [UInt8] = []
    private var eof = false

    init(fd: Int32) { self.fd = fd }

    /// The next line without its newline; `nil` at end of input. A last line without a
    /// newline (the writer died mid-line) is dropped: it was not fully acknowledged.
    mutating func next() -> String? {
        while true {
            if let nl = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: buffer[..<nl], as: UTF8.self)
                buffer.removeSubrange(...nl)
                return line
            }
            if eof { return nil }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n > 0 {
                buffer += chunk[..<n]
            } else if n < 0 && errno == EINTR {
                continue
            } else {
                eof = true
            }
        }
    }
}

/// One event that `perflog-stress` acknowledged as committed.
struct AckedEvent: Hashable {
    let seq: UInt64
    let invocation: InvocationID
    let kind: Event.Kind
}

/// Turns `perflog-stress --ack-ids` output into the events it acknowledged. With
/// `--marks` the run's events alternate mark, measure, so the kind follows from the
/// position. Returns `nil` for a line that is not an ack line.
struct AckParser {
    let marks: Bool
    var position = 0
    var acked: [AckedEvent] = []

    init(marks: Bool) { self.marks = marks }

    mutating func take(_ line: String) -> Bool {
        let words = line.split(separator: " ")
        guard words.first == "ack", words.count >= 3, let first = UInt64(words[1]), let count = Int(words[2]),
              words.count == 3 + count
        else { return false }
        for (i, word) in words[3...].enumerated() {
            guard let id = InvocationID(hex: String(word)) else { return false }
            let kind: Event.Kind = marks && position % 2 == 0 ? .mark : .measure
            acked.append(AckedEvent(seq: first + UInt64(i), invocation: id, kind: kind))
            position += 1
        }
        return true
    }
}

/// Checks that every acknowledged event of process `pid` is in the log: a measure at its
/// seq on the timeline; a mark either still open at its seq or closed by the measure of
/// the same invocation. Returns what is missing, as readable lines.
func missingEvents(_ acked: [AckedEvent], pid: Int32, timeline: [UInt64: Event], measures: [InvocationID: Event]) -> [String] {
    var missing: [String] = []
    for a in acked {
        if let e = timeline[a.seq], e.invocation == a.invocation, e.kind == a.kind, e.pid == pid { continue }
        if a.kind == .mark, let m = measures[a.invocation], m.pid == pid, m.seq > a.seq { continue }
        missing.append("pid \(pid): acknowledged \(a.kind) \(a.invocation) at seq \(a.seq) is not in the log")
    }
    return missing
}

/// The log's timeline by seq, and its measures by invocation.
func index(_ log: EventLog) throws -> (timeline: [UInt64: Event], measures: [InvocationID: Event]) {
    let events = try log.read { try $0.timeline() }
    var timeline: [UInt64: Event] = [:]
    var measures: [InvocationID: Event] = [:]
    for e in events {
        timeline[e.seq] = e
        if e.kind == .measure { measures[e.invocation] = e }
    }
    return (timeline, measures)
}

func launchStress(_ arguments: [String], stdout: Any, stderr: Any) throws -> Process {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: try StressTool.path())
    p.arguments = arguments
    p.standardOutput = stdout
    p.standardError = stderr
    p.standardInput = FileHandle.nullDevice
    try p.run()
    return p
}

/// How the crash tests open the log to check it: like the writers they launch.
let verifierOptions: EventLog.Options = {
    var options = EventLog.Options()
    options.retain = 100_000
    return options
}()

@Suite("Many processes, one log", .serialized)
struct MultiProcessTests {
    @Test("the stress tool is built next to the tests")
    func toolExists() throws {
        let path = try StressTool.path()
        #expect(FileManager.default.isExecutableFile(atPath: path))
    }

    @Test("8 processes × 2,000 single-event commits into one new log lose nothing")
    func concurrentWriters() throws {
        let dir = try TemporaryDirectory()
        // The log does not exist yet: the processes race to create it as well.
        let logPath = dir.path + "/log"
        let processes = 8, eventsEach = 2_000

        var running: [(process: Process, out: String, err: String, marks: Bool)] = []
        for i in 0..<processes {
            let out = dir.path + "/out-\(i)", err = dir.path + "/err-\(i)"
            _ = FileManager.default.createFile(atPath: out, contents: nil)
            _ = FileManager.default.createFile(atPath: err, contents: nil)
            // Half the writers record mark + measure pairs, so marks open and close
            // while the others write.
            let marks = i % 2 == 1
            var args = ["--log", logPath, "--events", "\(eventsEach)", "--streams", "4", "--agent-prefix", "w\(i)",
                        "--cli", "claude", "codex", "--retain", "2000", "--seed", "\(1000 + i)", "--ack-ids"]
            if marks { args.append("--marks") }
            let p = try launchStress(args, stdout: try FileHandle(forWritingTo: URL(fileURLWithPath: out)),
                                     stderr: try FileHandle(forWritingTo: URL(fileURLWithPath: err)))
            running.append((p, out, err, marks))
        }
        for r in running { r.process.waitUntilExit() }

        let log = try EventLog(path: logPath)
        #expect(try log.read { try $0.verify() } == [])
        let (timeline, measures) = try index(log)
        var allSeqs = Set<UInt64>()
        for (i, r) in running.enumerated() {
            let errors = try String(contentsOfFile: r.err, encoding: .utf8)
            #expect(r.process.terminationReason == .exit && r.process.terminationStatus == 0,
                    "writer \(i) ended with \(r.process.terminationStatus): \(errors)")
            #expect(errors.isEmpty, "writer \(i): \(errors)")
            var parser = AckParser(marks: r.marks)
            var done = false
            for line in try String(contentsOfFile: r.out, encoding: .utf8).split(separator: "\n") {
                if line.hasPrefix("done ") { done = true; continue }
                let isAck = parser.take(String(line))
                #expect(isAck, "writer \(i) printed \(line)")
            }
            #expect(done, "writer \(i) did not finish")
            #expect(parser.acked.count == eventsEach, "writer \(i) acknowledged \(parser.acked.count) events")
            let missing = missingEvents(parser.acked, pid: r.process.processIdentifier, timeline: timeline, measures: measures)
            // Counted, not compared, so that a failure prints three examples, not thousands.
            let missingCount = missing.count
            #expect(missingCount == 0, "writer \(i): e.g. \(missing.prefix(3))")
            allSeqs.formUnion(parser.acked.map(\.seq))

            // Every measure the writer appended is counted in its streams' summaries.
            let appended = try log.read { reader in
                try reader.streams().filter { $0.stream.agent.hasPrefix("w\(i)-") }.reduce(0) { $0 + $1.appended }
            }
            #expect(appended == UInt64(r.marks ? eventsEach / 2 : eventsEach))
        }
        // Each commit got its own seqs: no two acknowledgements overlap, none is lost.
        #expect(allSeqs.count == processes * eventsEach)
        #expect(try log.read { try $0.lastSeq() } == UInt64(processes * eventsEach))
        let info = try log.read { try $0.info() }
        #expect(info.inFlight == 0)
        // Measure-only writers kept all their events, mark writers one measure per pair.
        #expect(info.events == processes / 2 * eventsEach + processes / 2 * eventsEach / 2)
    }

    @Test("processes that start with a tiny map adopt the size another one grew it to")
    func mapResizedElsewhere() throws {
        let dir = try TemporaryDirectory()
        let logPath = dir.path + "/log"
        var running: [(Process, String)] = []
        for i in 0..<4 {
            let err = dir.path + "/err-\(i)"
            _ = FileManager.default.createFile(atPath: err, contents: nil)
            // 64 KiB maps fill at once: each process grows its map, and the others
            // then find the map grown beyond theirs (MDB_MAP_RESIZED) and adopt it.
            let p = try launchStress(
                ["--log", logPath, "--events", "3000", "--streams", "50", "--agent-prefix", "m\(i)", "--batch", "50",
                 "--map-size", "65536", "--seed", "\(77 + i)"],
                stdout: FileHandle.nullDevice, stderr: try FileHandle(forWritingTo: URL(fileURLWithPath: err)))
            running.append((p, err))
        }
        for (p, err) in running {
            p.waitUntilExit()
            let errors = try String(contentsOfFile: err, encoding: .utf8)
            #expect(p.terminationStatus == 0, "a writer failed: \(errors)")
        }
        let log = try EventLog(path: logPath)
        #expect(try log.read { try $0.verify() } == [])
        #expect(try log.read { try $0.lastSeq() } == 12_000)
        #expect(log.environment.info.mapSize > 65536)
    }

    @Test("a writer killed with SIGKILL mid-burst, 20 times: the log opens, verifies and holds every acknowledged event")
    func killedWriters() throws {
        let seed = UInt64.random(in: 1...UInt64.max)
        print("killedWriters seed \(seed)")
        var rng = SplitMix64(seed: seed)
        let dir = try TemporaryDirectory()
        let logPath = dir.path + "/log"
        var acked: [(pid: Int32, events: [AckedEvent])] = []

        for round in 0..<20 {
            let marks = Bool.random(using: &rng)
            let batch = Int.random(in: 1...16, using: &rng)
            // Round 0 may be killed before its first commit, while it creates the log.
            let acksToRead = Int.random(in: (round == 0 ? 0 : 1)...40, using: &rng)
            var args = ["--log", logPath, "--events", "100000000", "--streams", "\(Int.random(in: 1...4, using: &rng))",
                        "--agent-prefix", "k\(round)", "--cli", "claude", "gemini", "--batch", "\(batch)",
                        "--retain", "100000", "--seed", "\(rng.next() >> 1)", "--ack-ids"]
            if marks { args.append("--marks") }
            let out = Pipe(), err = Pipe()
            let p = try launchStress(args, stdout: out, stderr: err)
            // Keep only the child's copies of the write ends, so EOF arrives when it dies.
            try? out.fileHandleForWriting.close()
            try? err.fileHandleForWriting.close()

            var reader = BlockingLineReader(fd: out.fileHandleForReading.fileDescriptor)
            var parser = AckParser(marks: marks)
            var read = 0
            while read < acksToRead, let line = reader.next() {
                let isAck = parser.take(line)
                #expect(isAck, "round \(round): unexpected line \(line)")
                read += 1
            }
            #expect(read == acksToRead, "round \(round): the writer stopped after \(read) acknowledgements")
            kill(p.processIdentifier, SIGKILL)
            // Lines already in the pipe were written after their commits returned: they
            // are acknowledgements too.
            while let line = reader.next() {
                let isAck = parser.take(line)
                #expect(isAck, "round \(round): unexpected line \(line)")
            }
            p.waitUntilExit()
            let errors = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            #expect(p.terminationReason == .uncaughtSignal && p.terminationStatus == SIGKILL,
                    "round \(round): the writer ended with status \(p.terminationStatus) before it was killed: \(errors)")
            acked.append((p.processIdentifier, parser.acked))

            // The writers create the log with retain 100,000; when one dies before its
            // first commit, this open creates it, so it must ask for the same size (with
            // the default 100 the rings would evict what the test then looks for).
            let log = try EventLog(path: logPath, options: verifierOptions)
            let problems = try log.read { try $0.verify() }
            #expect(problems == [], "round \(round) (seed \(seed)): \(problems)")
            let (timeline, measures) = try index(log)
            for (pid, events) in acked {
                let missing = missingEvents(events, pid: pid, timeline: timeline, measures: measures)
                let missingCount = missing.count
                #expect(missingCount == 0, "round \(round) (seed \(seed)): e.g. \(missing.prefix(3))")
            }
        }
        #expect(acked.reduce(0) { $0 + $1.events.count } > 0)
    }

    @Test("a program recording through a Recorder, killed with SIGKILL 10 times, loses no flushed event")
    func killedRecorders() throws {
        let dir = try TemporaryDirectory()
        let logPath = dir.path + "/log"
        let seed = UInt64.random(in: 1...UInt64.max >> 1)
        var rng = SplitMix64(seed: seed)
        var flushed: [InvocationID] = []
        for round in 0..<10 {
            let flushesToRead = Int.random(in: 1...20, using: &rng)
            let args = ["--log", logPath, "--events", "100000000", "--streams", "8", "--agent-prefix", "r\(round)",
                        "--cli", "claude", "--batch", "\(Int.random(in: 1...500, using: &rng))", "--retain", "100000",
                        "--seed", "\(rng.next() >> 1)", "--ack-ids", "--recorder"]
            let out = Pipe(), err = Pipe()
            let p = try launchStress(args, stdout: out, stderr: err)
            try? out.fileHandleForWriting.close()
            try? err.fileHandleForWriting.close()
            var reader = BlockingLineReader(fd: out.fileHandleForReading.fileDescriptor)
            func take(_ line: String) {
                let words = line.split(separator: " ")
                #expect(words.first == "flushed", "round \(round): unexpected line \(line)")
                flushed += words.dropFirst(2).compactMap { InvocationID(hex: String($0)) }
            }
            var read = 0
            while read < flushesToRead, let line = reader.next() {
                take(line)
                read += 1
            }
            #expect(read == flushesToRead, "round \(round): the program stopped after \(read) flushes")
            kill(p.processIdentifier, SIGKILL)
            while let line = reader.next() { take(line) }
            p.waitUntilExit()
            #expect(p.terminationReason == .uncaughtSignal, "round \(round): the program ended on its own")

            // The writers create the log with retain 100,000; when one dies before its
            // first commit, this open creates it, so it must ask for the same size (with
            // the default 100 the rings would evict what the test then looks for).
            let log = try EventLog(path: logPath, options: verifierOptions)
            let problems = try log.read { try $0.verify() }
            #expect(problems == [], "round \(round) (seed \(seed)): \(problems)")
            let (_, measures) = try index(log)
            let missing = flushed.filter { measures[$0] == nil }
            #expect(missing.isEmpty, "round \(round) (seed \(seed)): \(missing.count) flushed events missing, e.g. \(missing.prefix(3))")
        }
        #expect(flushed.count > 0)
    }
}
