import Foundation
@testable import PerfLog
import PerfLogTestSupport
import Testing

/// Helpers shared by the import and export tests.
enum IOFixture {
    static func log(_ dir: TemporaryDirectory, _ name: String = "log", retain: Int = 100) throws -> EventLog {
        var options = EventLog.Options()
        options.retain = retain
        options.durability = .fast
        return try EventLog(path: dir.path + "/" + name, options: options)
    }

    /// The event as NDJSON keeps it: no seq, wall time truncated (floored) to the
    /// microsecond, duration rounded to the nearest microsecond (halves up).
    static func normalized(_ e: Event) -> Event {
        var e = e
        e.seq = 0
        e.wallTimeNs = (e.wallTimeNs / 1000 - (e.wallTimeNs % 1000 < 0 ? 1 : 0)) * 1000
        let us = e.durationNs / 1000 + (e.durationNs % 1000 >= 500 ? 1 : 0)
        e.durationNs = us.multipliedReportingOverflow(by: 1000).overflow ? .max : us * 1000
        return e
    }

    static func unsequenced(_ events: [Event]) -> [Event] {
        events.map { var e = $0; e.seq = 0; return e }
    }

    static func export(_ log: EventLog, _ format: EventExportFormat, _ filter: StreamFilter = StreamFilter()) throws -> String {
        var out = ""
        try log.exportEvents(format, filter, chunkBytes: 100) { out += $0 }
        return out
    }

    /// The log's timeline, every ring and every summary, without seqs (what an import
    /// must reproduce).
    struct Contents: Equatable {
        var timeline: [Event]
        var rings: [StreamName: [Event]]
        var summaries: [StreamName: [Int]]
        var okTotals: [StreamName: UInt64]

        init(_ log: EventLog) throws {
            (timeline, rings, summaries, okTotals) = try log.read { r in
                var rings: [StreamName: [Event]] = [:]
                var summaries: [StreamName: [Int]] = [:]
                var okTotals: [StreamName: UInt64] = [:]
                for s in try r.streams() {
                    rings[s.stream] = IOFixture.unsequenced(try r.ring(s.stream))
                    summaries[s.stream] = [s.count, s.failures, s.inFlight]
                    okTotals[s.stream] = s.okTotalNs
                }
                return (IOFixture.unsequenced(try r.timeline()), rings, summaries, okTotals)
            }
        }
    }

    /// A log of several streams with hostile-looking names, marks (some left open),
    /// failures, exit codes and metadata, with wall times increasing in commit order.
    static func populate(_ log: EventLog, seed: UInt64, events: Int = 400, microsecondTimes: Bool = false) throws {
        var rng = SplitMix64(seed: seed)
        let streams = try [
            StreamName(agent: "planner", cli: "claude"), StreamName(agent: "coder, senior", cli: "co\"dex"),
            StreamName(agent: "rév", cli: "gémini ☃"), StreamName(agent: "tests", cli: "swift"),
        ]
        var time: Int64 = 1_768_855_824_000_000_000
        var open: [(StreamName, InvocationID)] = []
        var batch: [Event] = []
        for n in 0..<events {
            time += Int64(rng.next() % 5_000_000_000) + 1
            if microsecondTimes { time -= time % 1000 }
            var meta = Metadata()
            if rng.next() % 3 == 0 { meta["model"] = ["opus", "a,b", "q\"uote", "ünï"][Int(rng.next() % 4)] }
            if rng.next() % 5 == 0 { meta["suite"] = "unit" }
            if rng.next() % 4 == 0 {
                let s = streams[Int(rng.next() % UInt64(streams.count))]
                let id = InvocationID(rawValue: rng.next())
                open.append((s, id))
                batch.append(.mark(s, invocation: id, wallTimeNs: time, pid: Int32(rng.next() % 60000), meta: meta))
            } else {
                let (s, id) = rng.next() % 2 == 0 && !open.isEmpty
                    ? open.remove(at: Int(rng.next() % UInt64(open.count)))
                    : (streams[Int(rng.next() % UInt64(streams.count))], InvocationID(rawValue: rng.next()))
                let failed = rng.next() % 6 == 0
                // A third of the failures ended by a signal, which then stands in for the exit code.
                let signal: Int32? = failed && rng.next() % 3 == 0 ? Int32(rng.next() % 64) + 1 : nil
                var duration = rng.next() % 10_000_000_000
                if microsecondTimes { duration -= duration % 1000 }
                batch.append(.measure(s, invocation: id, durationNs: duration, outcome: failed ? .failed : .ok,
                                      exitCode: signal != nil ? nil : failed ? Int32(rng.next() % 255) + 1 : (rng.next() % 2 == 0 ? 0 : nil),
                                      signal: signal, wallTimeNs: time, pid: Int32(rng.next() % 60000), meta: meta))
            }
            if batch.count >= Int(rng.next() % 7) + 1 || n == events - 1 {
                try log.append(batch)
                batch.removeAll()
            }
        }
    }

    static func withoutSeqs(_ ndjson: String) -> [String] {
        ndjson.split(separator: "\n").map { line in
            guard let comma = line.firstIndex(of: ",") else { return String(line) }
            return String(line[comma...])
        }
    }
}

@Suite("Export and import")
struct ImportExportTests {
    // MARK: Round trips

    @Test("export ndjson → import into a new log → the same timeline, rings, summaries and bytes", arguments: [1, 2, 3] as [UInt64])
    func ndjsonRoundTrip(seed: UInt64) throws {
        let dir = try TemporaryDirectory()
        let a = try IOFixture.log(dir, "a", retain: 20)
        try IOFixture.populate(a, seed: seed, microsecondTimes: seed == 1)
        let ndjson = try IOFixture.export(a, .ndjson)

        let b = try IOFixture.log(dir, "b", retain: 20)
        let counts = try b.importData(Array(ndjson.utf8))
        let lines = ndjson.split(separator: "\n").count
        #expect(counts.read == lines && counts.added == lines && counts.invalid == 0)

        let expected = try IOFixture.Contents(a)
        let got = try IOFixture.Contents(b)
        #expect(got.timeline == expected.timeline.map(IOFixture.normalized))
        #expect(got.rings == expected.rings.mapValues { $0.map(IOFixture.normalized) })
        #expect(got.summaries == expected.summaries)
        #expect(got.rings.keys.count == 4)
        if seed == 1 {
            #expect(got == expected)
        }
        #expect(IOFixture.withoutSeqs(try IOFixture.export(b, .ndjson)) == IOFixture.withoutSeqs(ndjson))
        #expect(try b.read { try $0.verify() }.isEmpty)
    }

    @Test("the streams a filter keeps, and nothing else, are exported")
    func filteredExport() throws {
        let dir = try TemporaryDirectory()
        let a = try IOFixture.log(dir, retain: 10)
        try IOFixture.populate(a, seed: 9)
        let lines = try IOFixture.export(a, .ndjson, StreamFilter(agent: "coder, senior")).split(separator: "\n")
        let expected = try a.read { try $0.timeline(StreamFilter(agent: "coder, senior")) }
        #expect(lines.map(String.init) == expected.map(\.jsonLine))
        #expect(!lines.isEmpty)
    }

    // MARK: Idempotence

    @Test("importing the same file twice leaves the retained events identical; the second import adds nothing")
    func importTwice() throws {
        let dir = try TemporaryDirectory()
        let a = try IOFixture.log(dir, "a", retain: 50)
        try IOFixture.populate(a, seed: 4, events: 600)
        let bytes = Array(try IOFixture.export(a, .ndjson).utf8)

        // Into a log with a smaller ring, so that measures fall outside its window.
        let b = try IOFixture.log(dir, "b", retain: 7)
        let first = try b.importData(bytes)
        #expect(first.outsideWindow > 0 && first.added > 0)
        let after = try IOFixture.Contents(b)
        let seq = try b.read { try $0.lastSeq() }
        let second = try b.importData(bytes)
        #expect(second.added == 0)
        #expect(second.alreadyPresent + second.outsideWindow == second.read)
        #expect(try IOFixture.Contents(b) == after)
        #expect(try b.read { try $0.lastSeq() } == seq)

        // And back into the log it came from: everything is already there.
        let back = try a.importData(bytes)
        #expect(back.alreadyPresent == back.read && back.added == 0)
    }

    /// Random logs (rings in any order, recorded out of time order too) and random
    /// inputs (duplicates, old and new events, marks with and without measures): a
    /// second import of the same input never changes the log.
    @Test("a second import never changes the log, whatever the log and the input", arguments: 0..<12)
    func idempotenceProperty(seed: Int) throws {
        var rng = SplitMix64(seed: UInt64(seed) &* 7919)
        let dir = try TemporaryDirectory()
        let retain = Int(rng.next() % 6) + 1
        let log = try IOFixture.log(dir, retain: retain)
        let streams = try (0..<3).map { try StreamName(agent: "a\($0)", cli: "c") }
        func randomEvents(_ n: Int, pool: inout [Event]) -> [Event] {
            (0..<n).map { _ in
                if !pool.isEmpty && rng.next() % 4 == 0 { return pool[Int(rng.next() % UInt64(pool.count))] }
                let s = streams[Int(rng.next() % 3)]
                let id = InvocationID(rawValue: rng.next() % 40)
                let t = Int64(rng.next() % 100) * 1000
                let e: Event = rng.next() % 4 == 0
                    ? .mark(s, invocation: id, wallTimeNs: t, pid: 1)
                    : .measure(s, invocation: id, durationNs: rng.next() % 1000, outcome: rng.next() % 5 == 0 ? .failed : .ok,
                               wallTimeNs: t, pid: 2)
                pool.append(e)
                return e
            }
        }
        var pool: [Event] = []
        for _ in 0..<Int(rng.next() % 5) { try log.append(randomEvents(Int(rng.next() % 8), pool: &pool)) }
        for _ in 0..<4 {
            let input = randomEvents(Int(rng.next() % 20), pool: &pool)
            let first = try log.importEvents(input)
            #expect(first.read == input.count)
            #expect(first.added + first.alreadyPresent + first.outsideWindow == first.read)
            let before = try IOFixture.Contents(log)
            let second = try log.importEvents(input)
            #expect(second.added == 0, "seed \(seed): \(second)")
            #expect(try IOFixture.Contents(log) == before)
            #expect(try log.read { try $0.verify() }.isEmpty)
        }
    }

    @Test("a full ring takes only newer measures; free slots take the newest older ones")
    func windowRules() throws {
        let dir = try TemporaryDirectory()
        let log = try IOFixture.log(dir, retain: 4)
        let s = try StreamName(agent: "a", cli: "c")
        func m(_ t: Int64) -> Event {
            .measure(s, invocation: InvocationID(rawValue: UInt64(t)), durationNs: 1000, outcome: .ok, wallTimeNs: t * 1000, pid: 1)
        }
        try log.append([m(100), m(101)])
        // Older than everything held: only the two free slots, newest first.
        let c1 = try log.importEvents((1...10).map(m))
        #expect(c1.added == 2 && c1.outsideWindow == 8)
        #expect(try log.read { try $0.ring(s) }.map { $0.wallTimeNs / 1000 } == [100, 101, 9, 10])
        // Full: only measures newer than the newest are taken, the newest `retain` of them.
        let c2 = try log.importEvents([m(50), m(102), m(103), m(104), m(105), m(106), m(107)])
        #expect(c2.added == 4 && c2.outsideWindow == 3)
        #expect(try log.read { try $0.ring(s) }.map { $0.wallTimeNs / 1000 } == [104, 105, 106, 107])
    }

    @Test("marks: an open mark or a measure of the invocation makes a mark present; a mark with its measure in the input is not stored")
    func marks() throws {
        let dir = try TemporaryDirectory()
        let log = try IOFixture.log(dir)
        let s = try StreamName(agent: "a", cli: "c")
        let x = InvocationID(rawValue: 1), y = InvocationID(rawValue: 2), z = InvocationID(rawValue: 3)
        try log.append([.mark(s, invocation: x, wallTimeNs: 1000, pid: 1)])
        let input: [Event] = [
            .mark(s, invocation: x, wallTimeNs: 1000, pid: 1),  // open already
            .mark(s, invocation: y, wallTimeNs: 2000, pid: 1),  // its measure follows
            .measure(s, invocation: y, durationNs: 5, outcome: .ok, wallTimeNs: 3000, pid: 1),
            .mark(s, invocation: z, wallTimeNs: 4000, pid: 1),  // new, stays open
            .mark(s, invocation: z, wallTimeNs: 4000, pid: 1),  // repeated
        ]
        let counts = try log.importEvents(input)
        #expect(counts == {
            var c = ImportCounts(); c.read = 5; c.added = 3; c.alreadyPresent = 2; return c
        }())
        #expect(try log.read { try $0.openMarks() }.map(\.invocation) == [x, z])
        #expect(try log.read { try $0.ring(s) }.map(\.invocation) == [y])
        let again = try log.importEvents(input)
        #expect(again.added == 0 && again.alreadyPresent == 5)
        // An import's measure closes the log's open mark of its invocation.
        try log.importEvents([.measure(s, invocation: x, durationNs: 9, outcome: .failed, wallTimeNs: 5000, pid: 1)])
        #expect(try log.read { try $0.openMarks() }.map(\.invocation) == [z])
    }

    // MARK: The old tracker's flat array and seed

    @Test("the old flat array: with and without success, ISO and epoch-ms timestamps, extra keys ignored")
    func flatArray() throws {
        let text = """
        \u{FEFF}  [
          {"agent":"planner","cli":"claude","duration":812.4,"timestamp":"2026-01-19T20:50:24.123Z","success":true},
          {"agent":"planner","cli":"claude","duration":1000,"timestamp":1768855825000,"success":false,"task":{"x":[1,2]}},
          {"timestamp":"2026-01-19T21:50:24.5+01:00","cli":"codex","agent":"coder","duration":0.0015},
          {"agent":"coder","cli":"codex","duration":2e3,"timestamp":1768855824500.25,"success":null}
        ]
        """
        let parsed = try ImportedEvents(parsing: text)
        #expect(parsed.format == .flatArray)
        let e = parsed.events
        try #require(e.count == 4)
        #expect(e.allSatisfy { $0.kind == .measure && $0.pid == 0 && $0.meta.isEmpty && $0.exitCode == nil })
        #expect(e[0].stream == (try StreamName(agent: "planner", cli: "claude")))
        #expect(e[0].durationNs == 812_400_000 && e[0].outcome == .ok && e[0].wallTimeNs == 1_768_855_824_123_000_000)
        #expect(e[1].durationNs == 1_000_000_000 && e[1].outcome == .failed && e[1].wallTimeNs == 1_768_855_825_000_000_000)
        #expect(e[2].durationNs == 1500 && e[2].outcome == .ok && e[2].wallTimeNs == 1_768_855_824_500_000_000)
        #expect(e[3].durationNs == 2_000_000_000 && e[3].wallTimeNs == 1_768_855_824_500_250_000)
        #expect(e[0].invocation == ImportedEvents.derivedInvocation(stream: e[0].stream, wallTimeNs: e[0].wallTimeNs,
                                                                     durationNs: e[0].durationNs))
        #expect(Set(e.map(\.invocation)).count == 4)

        // The same record written with an ISO or an epoch timestamp is the same measure.
        let iso = try ImportedEvents(parsing: #"[{"agent":"a","cli":"c","duration":5,"timestamp":"1970-01-01T00:00:01.000Z"}]"#)
        let epoch = try ImportedEvents(parsing: #"[{"agent":"a","cli":"c","duration":5,"timestamp":1000}]"#)
        #expect(iso.events == epoch.events)

        let dir = try TemporaryDirectory()
        let log = try IOFixture.log(dir)
        #expect(try log.importData(Array(text.utf8)).added == 4)
        let again = try log.importData(Array(text.utf8))
        #expect(again.added == 0 && again.alreadyPresent == 4)
        #expect(try log.read { try $0.streams() }.map(\.count) == [2, 2])
    }

    @Test("seed export is the old flat array, and imports back")
    func seedRoundTrip() throws {
        let dir = try TemporaryDirectory()
        let a = try IOFixture.log(dir, "a", retain: 10)
        try IOFixture.populate(a, seed: 5)
        let seed = try IOFixture.export(a, .seed)
        #expect(seed.hasPrefix("[\n  {\"agent\":") && seed.hasSuffix("}\n]\n"))

        let b = try IOFixture.log(dir, "b", retain: 10)
        let counts = try b.importData(Array(seed.utf8))
        let measures = try a.read { try $0.timeline().filter { $0.kind == .measure } }
        #expect(counts.added == measures.count && counts.read == measures.count)
        for s in try a.read({ try $0.streams() }) {
            let original = try a.read { try $0.ring(s.stream) }
            let imported = try b.read { try $0.ring(s.stream) }
            #expect(imported.map(\.durationNs) == original.map { IOFixture.normalized($0).durationNs })
            #expect(imported.map(\.outcome) == original.map(\.outcome))
            #expect(imported.map(\.wallTimeNs) == original.map { $0.wallTimeNs / 1_000_000 * 1_000_000 })
        }
        #expect(try IOFixture.export(b, .seed) == seed)
        #expect(try b.importData(Array(seed.utf8)).added == 0)

        // Exact shape, marks skipped.
        let c = try IOFixture.log(dir, "c")
        let s = try StreamName(agent: "plan\"ner", cli: "claude")
        try c.append([
            .mark(s, invocation: InvocationID(rawValue: 1), wallTimeNs: 1_768_855_824_123_456_789, pid: 1),
            .measure(s, invocation: InvocationID(rawValue: 2), durationNs: 812_413_499, outcome: .failed, exitCode: 2,
                     wallTimeNs: 1_768_855_824_123_456_789, pid: 1, meta: ["m": "x"]),
        ])
        #expect(try IOFixture.export(c, .seed) == """
        [
          {"agent":"plan\\"ner","cli":"claude","duration":812.413,"timestamp":"2026-01-19T20:50:24.123Z","success":false}
        ]

        """)
        let empty = try IOFixture.log(dir, "empty")
        #expect(try IOFixture.export(empty, .seed) == "[]\n")
        #expect(try IOFixture.export(empty, .ndjson) == "")
        #expect(try IOFixture.export(empty, .csv) == EventExporter.csvHeader + "\r\n")
    }

    // MARK: Malformed input

    static let validLines = [
        #"{"seq":1,"time":"2026-01-19T20:50:24.123456Z","kind":"mark","agent":"planner","cli":"claude","invocation":"00000000000000aa","pid":42}"#,
        #"{"seq":2,"time":"2026-01-19T20:50:25.000000Z","kind":"measure","agent":"planner","cli":"claude","invocation":"00000000000000aa","durationMs":876.5,"outcome":"ok","exitCode":0,"pid":42,"meta":{"model":"opus"}}"#,
        #"{"time":"2026-01-19T20:50:26Z","kind":"measure","agent":"coder","cli":"codex","invocation":"BEEF","durationMs":1,"outcome":"failed","signal":9,"pid":7}"#,
    ]

    static let malformed: [(line: String, field: String)] = [
        (#"{"time":"2026-01-19T20:50:27Z","kind":"measure","agent":"a","cli":"c","invocation":"1","durationMs":-1,"outcome":"ok","pid":1}"#, "durationMs"),
        (#"{"time":"2026-01-19T20:50:27Z","kind":"measure","agent":"a","cli":"c","invocation":"1","durationMs":NaN,"outcome":"ok","pid":1}"#, "durationMs"),
        (#"{"time":"2026-01-19T20:50:27Z","kind":"measure","agent":"a","cli":"c","invocation":"1","durationMs":1e400,"outcome":"ok","pid":1}"#, "durationMs"),
        (#"{"time":"2026-01-19T20:50:27Z","kind":"measure","agent":"a","cli":"c","invocation":"1","outcome":"ok","pid":1}"#, "durationMs"),
        (#"{"time":"2026-01-19T20:50:27Z","kind":"mark","agent":"a","cli":"c","invocation":"1","durationMs":1,"pid":1}"#, "durationMs"),
        (#"{"time":"2026-01-19T20:50:27+0100","kind":"mark","agent":"a","cli":"c","invocation":"1","pid":1}"#, "time"),
        (#"{"time":"2026-02-30T20:50:27Z","kind":"mark","agent":"a","cli":"c","invocation":"1","pid":1}"#, "time"),
        (#"{"time":"2026-01-19T20:50:27Z","kind":"start","agent":"a","cli":"c","invocation":"1","pid":1}"#, "kind"),
        (#"{"time":"2026-01-19T20:50:27Z","kind":"mark","agent":"","cli":"c","invocation":"1","pid":1}"#, "agent"),
        (#"{"time":"2026-01-19T20:50:27Z","kind":"mark","agent":"a","cli":"c\u0007","invocation":"1","pid":1}"#, "cli"),
        (#"{"time":"2026-01-19T20:50:27Z","kind":"mark","agent":"a","cli":"c","invocation":"+1","pid":1}"#, "invocation"),
        (#"{"time":"2026-01-19T20:50:27Z","kind":"mark","agent":"a","cli":"c","invocation":"00000000000000001","pid":1}"#, "invocation"),
        (#"{"time":"2026-01-19T20:50:27Z","kind":"mark","agent":"a","cli":"c","invocation":"1","pid":1.5}"#, "pid"),
        (#"{"time":"2026-01-19T20:50:27Z","kind":"mark","agent":"a","cli":"c","invocation":"1","pid":4294967296}"#, "pid"),
        (#"{"time":"2026-01-19T20:50:27Z","kind":"mark","agent":"a","cli":"c","invocation":"1"}"#, "pid"),
        (#"{"time":"2026-01-19T20:50:27Z","kind":"mark","agent":"a","cli":"c","invocation":"1","pid":1,"colour":"red"}"#, "colour"),
        (#"{"time":"2026-01-19T20:50:27Z","kind":"mark","agent":"a","agent":"b","cli":"c","invocation":"1","pid":1}"#, "agent"),
        (#"{"time":"2026-01-19T20:50:27Z","kind":"mark","agent":"a","cli":"c","invocation":"1","pid":1,"meta":{"k":1}}"#, "meta.k"),
        (#"{"time":"2026-01-19T20:50:27Z","kind":"mark","agent":"a","cli":"c","invocation":"1","pid":1,"meta":{"":"v"}}"#, "meta"),
        (#"{"time":"2026-01-19T20:50:27Z","kind":"mark","agent":"a","cli":"c","invocation":"1","pid":null}"#, "pid"),
        (#"{"time":"2026-01-19T20:50:27Z","kind":"mark","agent":"a","cli":"c","invocation":"1","pid":1"#, "pid"),
        (#"{"time":"2026-01-19T20:50:27Z","kind":"mark","agent":"a\ud800","cli":"c","invocation":"1","pid":1}"#, "agent"),
        (#"{"time":"2026-01-19T20:50:27Z","kind":"measure","agent":"a","cli":"c","invocation":"1","durationMs":1,"outcome":"failed","signal":0,"pid":1}"#, "signal"),
        (#"{"time":"2026-01-19T20:50:27Z","kind":"measure","agent":"a","cli":"c","invocation":"1","durationMs":1,"outcome":"failed","signal":65,"pid":1}"#, "signal"),
        (#"{"time":"2026-01-19T20:50:27Z","kind":"measure","agent":"a","cli":"c","invocation":"1","durationMs":1,"outcome":"failed","signal":9.5,"pid":1}"#, "signal"),
        (#"{"time":"2026-01-19T20:50:27Z","kind":"measure","agent":"a","cli":"c","invocation":"1","durationMs":1,"outcome":"failed","signal":"KILL","pid":1}"#, "signal"),
        (#"{"time":"2026-01-19T20:50:27Z","kind":"measure","agent":"a","cli":"c","invocation":"1","durationMs":1,"outcome":"ok","signal":9,"pid":1}"#, "signal"),
        (#"{"time":"2026-01-19T20:50:27Z","kind":"measure","agent":"a","cli":"c","invocation":"1","durationMs":1,"outcome":"failed","exitCode":137,"signal":9,"pid":1}"#, "signal"),
        (#"{"time":"2026-01-19T20:50:27Z","kind":"mark","agent":"a","cli":"c","invocation":"1","signal":9,"pid":1}"#, "signal"),
        (#"["not an object"]"#, ""),
        (#"{"time":"2026-01-19T20:50:27Z"} trailing"#, ""),
    ]

    @Test("a malformed line fails naming its line and field, and nothing of the file is committed",
          arguments: 0..<malformed.count)
    func malformedLine(index: Int) throws {
        let dir = try TemporaryDirectory()
        let log = try IOFixture.log(dir)
        try log.append([.measure(try StreamName(agent: "x", cli: "y"), invocation: InvocationID(rawValue: 9), durationNs: 1,
                                 outcome: .ok, wallTimeNs: 5, pid: 1)])
        let before = try IOFixture.Contents(log)
        let seq = try log.read { try $0.lastSeq() }
        let (bad, field) = Self.malformed[index]
        // Line 5, after a blank line: blank lines count.
        let text = Self.validLines[0] + "\n" + Self.validLines[1] + "\r\n\n" + Self.validLines[2] + "\n" + bad + "\n"
        do {
            _ = try log.importData(Array(text.utf8))
            Issue.record("accepted \(bad)")
        } catch {
            guard case .invalidLine(let line, let f, let rule) = error else { Issue.record("\(error)"); return }
            #expect(line == 5)
            #expect(f == (field.isEmpty ? nil : field), "rule: \(rule)")
            #expect(!rule.isEmpty)
        }
        #expect(try IOFixture.Contents(log) == before)
        #expect(try log.read { try $0.lastSeq() } == seq)

        // With skipInvalid the line is counted, and the others are imported.
        let counts = try log.importData(Array(text.utf8), skipInvalid: true)
        #expect(counts.invalid == 1 && counts.added == 3 && counts.read == 3)
    }

    @Test("invalid UTF-8 in a string is refused")
    func invalidUTF8() throws {
        for bytes: [UInt8] in [[0xC0, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xE2, 0x82], [0xFF], [0x80]] {
            let line = Array(#"{"time":"2026-01-19T20:50:27Z","kind":"mark","agent":"a"#.utf8) + bytes
                + Array(#"","cli":"c","invocation":"1","pid":1}"#.utf8)
            #expect(throws: PerfLogError.self) { try ImportedEvents(parsing: line) }
        }
        let ok = Array(#"{"time":"2026-01-19T20:50:27Z","kind":"mark","agent":"a"#.utf8) + [0xF0, 0x9F, 0x98, 0x80]
            + Array(#"","cli":"c\u00e9\ud83d\ude00","invocation":"1","pid":1}"#.utf8)
        let e = try ImportedEvents(parsing: ok).events
        #expect(e.first?.stream.agent == "a😀" && e.first?.stream.cli == "cé😀")
    }

    @Test("skip-invalid counts the skipped records and keeps their errors")
    func skipInvalid() throws {
        let text = Self.validLines[0] + "\n{oops\n" + Self.validLines[2] + "\n" + Self.malformed[0].line + "\n"
        #expect(throws: PerfLogError.invalidLine(line: 2, field: nil, rule: "invalid JSON at column 2: expected a key in quotes, found 'o'")) {
            try ImportedEvents(parsing: text)
        }
        let parsed = try ImportedEvents(parsing: text, skipInvalid: true)
        #expect(parsed.events.count == 2 && parsed.invalid == 2)
        #expect(parsed.problems.map { error -> String in
            guard case .invalidLine(let line, let field, _) = error else { return "" }
            return "line \(line)" + (field.map { ": \($0)" } ?? "")
        } == ["line 2", "line 4: durationMs"])

        let array = #"[{"agent":"a","cli":"c","duration":1,"timestamp":0},{"agent":"a","cli":"c","duration":-2,"timestamp":0},7]"#
        #expect(throws: PerfLogError.invalidInput(field: "element 2 (line 1): duration", rule: "must not be negative")) {
            try ImportedEvents(parsing: array)
        }
        let skipped = try ImportedEvents(parsing: array, skipInvalid: true)
        #expect(skipped.events.count == 1 && skipped.invalid == 2)
        // A flat array that is not JSON fails even with skipInvalid.
        #expect(throws: PerfLogError.self) { try ImportedEvents(parsing: "[{\"agent\":\"a\"},\n{", skipInvalid: true) }
    }

    // MARK: CSV

    @Test("CSV: header, CRLF line ends, RFC 4180 quoting of names and metadata, the signal last")
    func csv() throws {
        let dir = try TemporaryDirectory()
        let log = try IOFixture.log(dir)
        let s = try StreamName(agent: "coder, senior", cli: "co\"dex")
        try log.append([
            .mark(s, invocation: InvocationID(rawValue: 0xab), wallTimeNs: 1_768_855_824_123_456_789, pid: 7),
            .measure(s, invocation: InvocationID(rawValue: 0xcd), durationNs: 812_413_500, outcome: .failed, exitCode: -3,
                     wallTimeNs: 1_768_855_825_000_000_000, pid: 8, meta: ["model": "a,\"b\"", "z": "é"]),
            .measure(try StreamName(agent: "plain", cli: "c"), invocation: InvocationID(rawValue: 1), durationNs: 0,
                     outcome: .ok, wallTimeNs: 0, pid: 9),
            .measure(try StreamName(agent: "plain", cli: "c"), invocation: InvocationID(rawValue: 2), durationNs: 1_000_000,
                     outcome: .failed, signal: 9, wallTimeNs: 0, pid: 10),
        ])
        let csv = try IOFixture.export(log, .csv)
        #expect(csv == EventExporter.csvHeader + "\r\n"
            + "1,2026-01-19T20:50:24.123456Z,mark,\"coder, senior\",\"co\"\"dex\",00000000000000ab,,,,7,,\r\n"
            + "2,2026-01-19T20:50:25.000000Z,measure,\"coder, senior\",\"co\"\"dex\",00000000000000cd,812.414,failed,-3,8,"
            + "\"{\"\"model\"\":\"\"a,\\\"\"b\\\"\"\"\",\"\"z\"\":\"\"é\"\"}\",\r\n"
            + "3,1970-01-01T00:00:00.000000Z,measure,plain,c,0000000000000001,0,ok,,9,,\r\n"
            + "4,1970-01-01T00:00:00.000000Z,measure,plain,c,0000000000000002,1,failed,,10,,9\r\n")
        // A reader that follows RFC 4180 gets the fields back.
        let records = Self.parseCSV(csv)
        #expect(records.count == 5 && records.allSatisfy { $0.count == 12 })
        #expect(records[0].last == "signal")
        #expect(records[2][3] == "coder, senior" && records[2][4] == "co\"dex")
        #expect(records[2][10] == #"{"model":"a,\"b\"","z":"é"}"#)
        #expect(records[4][8] == "" && records[4][11] == "9")

        var field = ""
        CSVText.appendField("line\r\nbreak", to: &field)
        CSVText.appendField("cr\ronly", to: &field)
        CSVText.appendField("plain", to: &field)
        #expect(field == "\"line\r\nbreak\"\"cr\ronly\"plain")
    }

    /// A strict RFC 4180 reader: records end in CR LF; quoted fields may hold anything.
    static func parseCSV(_ text: String) -> [[String]] {
        var records: [[String]] = [], record: [String] = [], field = ""
        var chars = Array(text.unicodeScalars)[...]
        var quoted = false
        while let c = chars.popFirst() {
            if quoted {
                if c == "\"" {
                    if chars.first == "\"" { chars.removeFirst(); field.unicodeScalars.append("\"") } else { quoted = false }
                } else { field.unicodeScalars.append(c) }
            } else if c == "\"" {
                quoted = true
            } else if c == "," {
                record.append(field); field = ""
            } else if c == "\r" && chars.first == "\n" {
                chars.removeFirst()
                record.append(field); field = ""
                records.append(record); record = []
            } else {
                field.unicodeScalars.append(c)
            }
        }
        return records
    }

    // MARK: Values

    @Test("numbers convert exactly, with halves rounded up and overflow refused")
    func numbers() {
        func ns(_ text: String) -> UInt64? {
            guard let v = JSONNumber(text: text, isInteger: false).scaled(byPowerOfTen: 6), !v.negative else { return nil }
            return v.magnitude
        }
        #expect(ns("812.413") == 812_413_000)
        #expect(ns("0.0000005") == 1 && ns("0.00000049999") == 0)
        #expect(ns("1e3") == 1_000_000_000 && ns("1E+3") == 1_000_000_000 && ns("15e-1") == 1_500_000)
        #expect(ns("0.000000000000000000000000001") == 0 && ns("0e99999999999999") == 0)
        #expect(ns("18446744073709.551615") == .max && ns("18446744073709.5516155") == nil && ns("1e400") == nil)
        #expect(ns("000") == 0 && ns(String(repeating: "9", count: 5000)) == nil)
        #expect(ns("-0") == 0 && ns("-0.0000001") == 0 && ns("-1") == nil)
        #expect(JSONNumber(text: "-9223372036854775808", isInteger: true).integer() == .min)
        #expect(JSONNumber(text: "9223372036854775808", isInteger: true).integer() == nil)
    }

    @Test("timestamps: ISO 8601 parses what Timestamp writes, and refuses impossible dates")
    func timestamps() {
        var rng = SplitMix64(seed: 77)
        for _ in 0..<5000 {
            let t = Int64(bitPattern: rng.next())
            let us = Timestamp.iso8601(unixNanoseconds: t, precision: .microseconds)
            #expect(ISO8601.parse(us, allowOffset: false) == IOFixture.normalized(.mark(
                StreamName(unchecked: "a", cli: "c"), invocation: InvocationID(rawValue: 0), wallTimeNs: t, pid: 0)).wallTimeNs)
        }
        #expect(ISO8601.parse("2024-02-29T23:59:59.999999999Z", allowOffset: false) == 1_709_251_199_999_999_999)
        #expect(ISO8601.parse("1969-12-31T23:59:59.5Z", allowOffset: false) == -500_000_000)
        #expect(ISO8601.parse("2026-01-19T21:50:24-01:00", allowOffset: true) == 1_768_863_024_000_000_000)
        for bad in ["2023-02-29T00:00:00Z", "2026-13-01T00:00:00Z", "2026-01-19T24:00:00Z", "2026-01-19T20:50:24.Z",
                    "2026-01-19T20:50:24.1234567890Z", "2026-01-19 20:50:24Z", "2026-01-19T20:50:24", "2026-01-19T20:50:24Zx",
                    "9999-12-31T23:59:59Z", "0000-01-01T00:00:00Z", "2026-1-19T20:50:24Z", ""] {
            #expect(ISO8601.parse(bad, allowOffset: true) == nil, "\(bad)")
        }
    }

    @Test("Event(jsonLine:) reads back every jsonLine", arguments: 0..<2)
    func jsonLines(seed: Int) throws {
        var rng = SplitMix64(seed: UInt64(seed))
        for _ in 0..<3000 {
            var e = try EncodingTests.randomEvent(&rng)
            if e.kind == .mark { e.exitCode = rng.next() % 2 == 0 ? nil : 5 }
            #expect(try Event(jsonLine: e.jsonLine) == IOFixture.normalized(e))
        }
    }

    // MARK: Hostile input

    @Test("deep nesting, huge numbers and strings, and every truncation never crash")
    func hostile() throws {
        let deep = String(repeating: "[", count: 200_000)
        #expect(throws: PerfLogError.self) { try ImportedEvents(parsing: deep) }
        #expect(throws: PerfLogError.self) { try ImportedEvents(parsing: "{\"meta\":" + deep) }
        #expect(throws: PerfLogError.self) { try ImportedEvents(parsing: String(repeating: "{\"a\":", count: 100_000)) }
        #expect(throws: PerfLogError.self) { try ImportedEvents(parsing: "[" + String(repeating: "[1,{\"a\":", count: 50_000)) }
        let huge = #"{"time":"2026-01-19T20:50:27Z","kind":"measure","agent":"a","cli":"c","invocation":"1","durationMs":"#
            + String(repeating: "7", count: 200_000) + #","outcome":"ok","pid":1}"#
        #expect(throws: PerfLogError.self) { try ImportedEvents(parsing: huge) }
        let longName = #"{"time":"2026-01-19T20:50:27Z","kind":"mark","agent":""# + String(repeating: "é", count: 100_000)
            + #"","cli":"c","invocation":"1","pid":1}"#
        #expect(throws: PerfLogError.self) { try ImportedEvents(parsing: longName) }
        let longLine = String(repeating: " ", count: ImportedEvents.maxLineBytes) + "{}"
        #expect(throws: PerfLogError.invalidLine(line: 1, field: nil, rule: "is longer than \(ImportedEvents.maxLineBytes) bytes")) {
            try ImportedEvents(parsing: longLine)
        }

        let valid = Array((Self.validLines.joined(separator: "\n") + "\n").utf8)
        for n in 0..<valid.count {
            _ = try? ImportedEvents(parsing: Array(valid[..<n]))
        }
        let array = Array(#"[{"agent":"a","cli":"c","duration":1.5,"timestamp":"2026-01-19T20:50:24.123Z","success":false}]"#.utf8)
        for n in 1..<array.count {
            #expect(throws: PerfLogError.self) { try ImportedEvents(parsing: Array(array[..<n])) }
        }
    }

    /// Mutations of valid inputs: byte flips, insertions of JSON-significant and
    /// invalid bytes, deletions, duplications and truncations. Parsing must return or
    /// throw; what parses must import into a log that stays sound.
    @Test("20,000 mutated inputs never crash; what parses imports into a sound log")
    func fuzz() throws {
        let seeds: [[UInt8]] = [
            Array((Self.validLines.joined(separator: "\n") + "\n").utf8),
            Array(#"[{"agent":"a","cli":"c","duration":1.5,"timestamp":"2026-01-19T20:50:24.123Z","success":false},{"agent":"b","cli":"c","duration":2e1,"timestamp":1768855825000}]"#.utf8),
        ]
        let tokens: [[UInt8]] = ["[", "]", "{", "}", "\"", "\\", ":", ",", "\\u", "\\ud800", "1e999999999", "-", "0.", "null",
                                 "\n", "\r", "\u{7}", "é", "😀"].map { Array($0.utf8) } + [[0xFF], [0xC0, 0x80], [0xED, 0xA0, 0x80], [0x00]]
        var rng = SplitMix64(seed: 2026)
        let dir = try TemporaryDirectory()
        let log = try IOFixture.log(dir, retain: 5)
        var parsedCount = 0, imported = 0
        for n in 0..<20_000 {
            var input = seeds[n % seeds.count]
            for _ in 0..<Int(rng.next() % 4) + 1 {
                let at = input.isEmpty ? 0 : Int(rng.next() % UInt64(input.count))
                switch rng.next() % 6 {
                case 0 where !input.isEmpty: input[at] ^= UInt8(truncatingIfNeeded: 1 << (rng.next() % 8))
                case 1: input.insert(contentsOf: tokens[Int(rng.next() % UInt64(tokens.count))], at: at)
                case 2 where !input.isEmpty: input.removeSubrange(at..<min(input.count, at + Int(rng.next() % 8) + 1))
                case 3: input.removeSubrange(at...)
                case 4 where !input.isEmpty:
                    let end = min(input.count, at + Int(rng.next() % 40) + 1)
                    input.insert(contentsOf: input[at..<end], at: Int(rng.next() % UInt64(input.count)))
                default: input.insert(UInt8(truncatingIfNeeded: rng.next()), at: at)
                }
            }
            let strict = try? ImportedEvents(parsing: input)
            guard let lenient = try? ImportedEvents(parsing: input, skipInvalid: true) else { continue }
            parsedCount += 1
            if let strict { #expect(strict.invalid == 0 && strict.events == lenient.events) }
            if n % 40 == 0 {
                let counts = try log.importEvents(lenient.events)
                #expect(counts.added + counts.alreadyPresent + counts.outsideWindow == lenient.events.count)
                imported += 1
            }
        }
        #expect(parsedCount > 1000 && imported > 10)
        #expect(try log.read { try $0.verify() }.isEmpty)
    }
}
