import Foundation
@testable import PerfLog
import PerfLogTestSupport
import Testing

@Suite("Import streams")
struct ImportStreamTests {
    /// Chunk sizes from one byte (every record crosses boundaries) to larger than the input.
    static let chunkSizes = [1, 2, 3, 7, 64, 1000, 1 << 20]

    /// Every record of `bytes` read `chunkBytes` at a time: the events, or the error.
    static func read(_ bytes: [UInt8], chunkBytes: Int, skipInvalid: Bool = false) -> Result<ImportedEvents, PerfLogError> {
        Result { () throws(PerfLogError) -> ImportedEvents in
            try ImportedEvents(reading: ImportReader(ImportBytes(bytes), chunkBytes: chunkBytes), skipInvalid: skipInvalid)
        }
    }

    static func same(_ a: Result<ImportedEvents, PerfLogError>, _ b: Result<ImportedEvents, PerfLogError>) -> Bool {
        switch (a, b) {
        case (.success(let x), .success(let y)):
            return x.events == y.events && x.invalid == y.invalid && x.problems == y.problems && x.format == y.format
        case (.failure(let x), .failure(let y)): return x == y
        default: return false
        }
    }

    /// NDJSON with a byte order mark, blank lines, CR LF, metadata with escapes, a mark,
    /// and two invalid lines.
    static let ndjson: [UInt8] = {
        var text = "\u{FEFF}\n"
        for i in 0..<60 {
            let meta = i % 3 == 0 ? #","meta":{"model":"op\"us","note":"a/b,{]"}"# : ""
            text += #"{"time":"2026-01-19T20:50:\#(10 + i % 50).\#(100_000 + i)Z","kind":"measure","agent":"agent-\#(i % 4)","#
                + #""cli":"cl\u00e9","invocation":"\#(String(i + 1, radix: 16))","durationMs":\#(i).5,"outcome":"ok","pid":\#(i)\#(meta)}"#
            text += i % 7 == 0 ? "\r\n\n" : "\n"
        }
        text += #"{"time":"2026-01-19T20:50:27Z","kind":"mark","agent":"a","cli":"c","invocation":"ff","pid":1}"# + "\n"
        text += "{oops\n" + #"{"time":"x"}"# + "\n   \n"
        return Array(text.utf8)
    }()

    @Test("NDJSON read in chunks of any size gives the same events and errors, lines crossing chunk boundaries",
          arguments: chunkSizes)
    func ndjsonChunks(chunkBytes: Int) throws {
        let whole = Self.read(Self.ndjson, chunkBytes: 1 << 24, skipInvalid: true)
        let parsed = try whole.get()
        #expect(parsed.events.count == 61 && parsed.invalid == 2 && parsed.format == .ndjson)
        #expect(parsed.events[0].stream.cli == "clé" && parsed.events[0].meta["note"] == "a/b,{]")
        #expect(Self.same(Self.read(Self.ndjson, chunkBytes: chunkBytes, skipInvalid: true), whole))
        // Without skipping, the first invalid line fails, naming its line, whatever the chunks.
        let lines = Self.ndjson.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        let oops = lines.firstIndex { $0.elementsEqual("{oops".utf8) }.map { $0 + 1 }
        #expect(throws: PerfLogError.invalidLine(line: oops ?? 0, field: nil, rule: "invalid JSON at column 2: expected a key in quotes, found 'o'")) {
            try Self.read(Self.ndjson, chunkBytes: chunkBytes).get()
        }
    }

    static let flatArray: [UInt8] = Array("""
        \u{FEFF}
          [
          {"agent":"planner","cli":"claude","duration":812.4,"timestamp":"2026-01-19T20:50:24.123Z","success":true},
        {"agent":"a]b,c","cli":"x{y}\\"z","duration":1e3,"timestamp":1768855825000,
           "meta":{"nested":{"deep":[1,[2,{"3":"]"}]],"s":"\\\\"}},"success":null}   ,
          {"timestamp":"2026-01-19T21:50:24+01:00","duration":0,"agent":"é","cli":"😀","success":false,"extra":[]}
          ]\t
        """.utf8)

    @Test("the flat array streams element by element: elements across chunk boundaries, white space, nested extra keys",
          arguments: chunkSizes)
    func flatArrayChunks(chunkBytes: Int) throws {
        let parsed = try Self.read(Self.flatArray, chunkBytes: chunkBytes).get()
        #expect(parsed.format == .flatArray)
        #expect(parsed.events.map(\.stream.agent) == ["planner", "a]b,c", "é"])
        #expect(parsed.events.map(\.durationNs) == [812_400_000, 1_000_000_000, 0])
        #expect(parsed.events[1].stream.cli == "x{y}\"z")
        #expect(parsed.events.map(\.outcome) == [.ok, .ok, .failed])
        #expect(Self.same(.success(parsed), Self.read(Self.flatArray, chunkBytes: 1 << 24)))
    }

    /// Malformed arrays: the error (line, column, message) does not depend on the chunks.
    static let malformedArrays = [
        "[", "[ ", "[1,]", "[{\"agent\":\"a\"},\n{", "[{}\n {}]", "[{}] x", "[\n\n  {\"a\":tru}]", "[\"abc", "[{\"a\":1}}",
        "[{\"a\":\"\\u12\"}]", "[-]", "[{},\n  7,\n  {\"agent\":\"a\",\"cli\":\"c\",\"duration\":-1,\"timestamp\":0}]", "[]", "  []  ",
    ]

    @Test("malformed and invalid flat arrays fail the same way whatever the chunks", arguments: chunkSizes)
    func flatArrayErrors(chunkBytes: Int) throws {
        for text in Self.malformedArrays {
            let bytes = Array(text.utf8)
            for skip in [false, true] {
                let chunked = Self.read(bytes, chunkBytes: chunkBytes, skipInvalid: skip)
                let whole = Self.read(bytes, chunkBytes: 1 << 24, skipInvalid: skip)
                #expect(Self.same(chunked, whole), "\(text.debugDescription) skip \(skip): \(chunked) vs \(whole)")
            }
        }
        #expect(throws: PerfLogError.invalidLine(line: 3, field: nil, rule: "invalid JSON at column 8: unexpected 't'")) {
            try Self.read(Array("[\n\n  {\"a\":tru}]".utf8), chunkBytes: chunkBytes).get()
        }
        #expect(throws: PerfLogError.invalidLine(line: 2, field: nil, rule: "invalid JSON at column 2: unexpected end of input (the object is not closed)")) {
            try Self.read(Array("[{\"agent\":\"a\"},\n{".utf8), chunkBytes: chunkBytes, skipInvalid: true).get()
        }
        let invalid = Self.read(Array(Self.malformedArrays[11].utf8), chunkBytes: chunkBytes, skipInvalid: true)
        #expect(try invalid.get().problems.map(\.description) == [
            "element 1 (line 1): agent: is missing", "element 2 (line 2): must be an object (got a number)",
            "element 3 (line 3): duration: must not be negative",
        ])
    }

    @Test("a record longer than the limit is refused without holding more than it")
    func longRecords() throws {
        let limit = ImportedEvents.maxLineBytes
        let long = Array((Self.validLine(1) + "\n" + String(repeating: "x", count: limit * 3) + "\n" + Self.validLine(2) + "\n"
            + String(repeating: " ", count: limit * 2) + "\n" + Self.validLine(3)).utf8)
        let parsed = try Self.read(long, chunkBytes: 4096, skipInvalid: true).get()
        #expect(parsed.events.count == 3 && parsed.invalid == 1)
        #expect(parsed.problems == [.invalidLine(line: 2, field: nil, rule: "is longer than \(limit) bytes")])
        let element = Array(("[" + String(repeating: " ", count: 10) + "\"" + String(repeating: "y", count: limit + 1) + "\"]").utf8)
        #expect(throws: PerfLogError.invalidInput(field: "element 1 (line 1)", rule: "is longer than \(limit) bytes")) {
            try Self.read(element, chunkBytes: 4096, skipInvalid: true).get()
        }
        // Leading white space longer than any record, then a record: NDJSON's rule.
        let spaces = Array((String(repeating: " ", count: limit * 2) + "{}").utf8)
        #expect(throws: PerfLogError.invalidLine(line: 1, field: nil, rule: "is longer than \(limit) bytes")) {
            try Self.read(spaces, chunkBytes: 4096).get()
        }
    }

    static func validLine(_ i: Int, second: Int? = nil, stream: Int? = nil) -> String {
        let s = second ?? i
        return #"{"time":"2026-01-19T\#(String(format: "%02d:%02d:%02d", 10 + s / 3600, s / 60 % 60, s % 60)).000000Z","kind":"measure","#
            + #""agent":"agent-\#(stream ?? i % 5)","cli":"c","invocation":"\#(String(i + 1, radix: 16))","durationMs":\#(i % 900 + 1),"#
            + #""outcome":"ok","pid":1}"#
    }

    @Test("an invalid line near the end of a large input commits nothing; skipping it commits the rest in chunks")
    func invalidNearTheEnd() throws {
        let dir = try TemporaryDirectory()
        let log = try IOFixture.log(dir, retain: 1000)
        try log.append([.measure(try StreamName(agent: "x", cli: "y"), invocation: InvocationID(rawValue: 9), durationNs: 1,
                                 outcome: .ok, wallTimeNs: 5, pid: 1)])
        let before = try IOFixture.Contents(log)
        var lines = (0..<3000).map { Self.validLine($0) }
        lines[2995] = lines[2995].replacingOccurrences(of: "\"durationMs\":", with: "\"durationMs\":-")
        let bytes = Array((lines.joined(separator: "\n") + "\n").utf8)
        #expect(throws: PerfLogError.invalidLine(line: 2996, field: "durationMs", rule: "must not be negative")) {
            try log.importStream(ImportBytes(bytes), eventsPerCommit: 100, chunkBytes: 1000)
        }
        #expect(try IOFixture.Contents(log) == before)
        var commits = 0
        let counts = try log.importStream(ImportBytes(bytes), skipInvalid: true, eventsPerCommit: 100, chunkBytes: 1000) { progress in
            if case .committed = progress { commits += 1 }
        }
        #expect(counts.read == 2999 && counts.added == 2999 && counts.invalid == 1 && commits == 30)
        #expect(try log.read { try $0.info().events } == 3000)
    }

    @Test("committing in chunks gives the log one commit gives, for input in time order; again adds nothing",
          arguments: [1, 7, 100, 100_000])
    func chunkedCommits(eventsPerCommit: Int) throws {
        let dir = try TemporaryDirectory()
        // Retain 30 of 120 per stream: later chunks evict what earlier ones added.
        let one = try IOFixture.log(dir, "one", retain: 30), chunked = try IOFixture.log(dir, "chunked", retain: 30)
        let bytes = Array(((0..<600).map { Self.validLine($0) }.joined(separator: "\n")).utf8)
        try one.importEvents(ImportedEvents(parsing: bytes).events)
        let counts = try chunked.importStream(ImportBytes(bytes), eventsPerCommit: eventsPerCommit, chunkBytes: 512)
        #expect(counts.read == 600)
        let (a, b) = (try IOFixture.Contents(one), try IOFixture.Contents(chunked))
        #expect(a.rings == b.rings && a.timeline == b.timeline)
        let again = try chunked.importStream(ImportBytes(bytes), eventsPerCommit: eventsPerCommit, chunkBytes: 512)
        #expect(again.added == 0 && again.alreadyPresent + again.outsideWindow == 600)
        #expect(try IOFixture.Contents(chunked) == b)
    }

    @Test("a pipe is spooled to an unlinked temporary file and read twice; a file is read only as far as it was checked")
    func files() throws {
        let dir = try TemporaryDirectory()
        let spool = dir.path + "/spool"
        try FileManager.default.createDirectory(atPath: spool, withIntermediateDirectories: true)
        let text = (0..<2000).map { Self.validLine($0) }.joined(separator: "\n") + "\n"
        let pipe = Pipe()
        let writer = Thread {
            pipe.fileHandleForWriting.write(Data(text.utf8))
            try? pipe.fileHandleForWriting.close()
        }
        writer.start()
        let source = try ImportFile(fileDescriptor: pipe.fileHandleForReading.fileDescriptor, spoolDirectory: spool)
        defer { source.close() }
        #expect(try FileManager.default.contentsOfDirectory(atPath: spool).isEmpty)
        let log = try IOFixture.log(dir, retain: 1000)
        let counts = try log.importStream(source, eventsPerCommit: 300, chunkBytes: 777)
        #expect(counts.read == 2000 && counts.added == 2000)
        #expect(try FileManager.default.contentsOfDirectory(atPath: spool).isEmpty)

        // A file that grows between the passes: the second reads what the first checked.
        let path = dir.path + "/events.ndjson"
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        let reader = ImportReader(try ImportFile(fileDescriptor: handle.fileDescriptor), chunkBytes: 999)
        let check = try ImportedEvents.check(reader, skipInvalid: false)
        #expect(check.events == 2000 && check.bytes == text.utf8.count)
        try handle.seekToEnd()
        handle.write(Data("not json\n".utf8))
        let other = try IOFixture.log(dir, "other", retain: 1000)
        let second = try other.importCommitting(reader, check: check, skipInvalid: false, eventsPerCommit: 500)
        #expect(second.read == 2000 && second.added == 2000)
    }

    @Test("5,000 mutated inputs read in small chunks give exactly what one chunk gives")
    func fuzzChunks() {
        let seeds = [Self.ndjson, Self.flatArray] + Self.malformedArrays.map { Array($0.utf8) }
        var m = Mutator(rng: SplitMix64(seed: 2027))
        var differ = 0, valid = 0
        for i in 0..<5000 {
            let bytes = m.mutate(seeds)
            let skip = i % 2 == 0
            let whole = Self.read(bytes, chunkBytes: 1 << 24, skipInvalid: skip)
            if case .success = whole { valid += 1 }
            if !Self.same(Self.read(bytes, chunkBytes: 1 + m.int(9), skipInvalid: skip), whole) { differ += 1 }
        }
        #expect(differ == 0 && valid > 100)
    }
}
