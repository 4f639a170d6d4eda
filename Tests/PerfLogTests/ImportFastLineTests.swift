@testable import PerfLog
import PerfLogTestSupport
import Testing

@Suite("Import fast line")
struct ImportFastLineTests {
    static let names = ["claude", "gpt-5", "a b", "x\u{e9}", "q\"uote", "back\\slash", String(repeating: "n", count: 128)]
    static let metas: [Metadata] = [Metadata(), ["model": "opus"], ["a": "1", "b": "two words"], ["k": "v\u{1F600}"]]

    /// Lines as `jsonLine` writes them: measures and marks, every optional field.
    static func lines(_ rng: inout SplitMix64, count: Int) -> [String] {
        (0..<count).map { i in
            let stream = StreamName(unchecked: names[Int(rng.next() % UInt64(names.count))], cli: names[Int(rng.next() % 3)])
            let time = Int64(bitPattern: rng.next())
            let wall = i % 5 == 0 ? time : 1_768_855_824_000_000_000 + Int64(rng.next() % 1_000_000_000_000)
            let inv = InvocationID(rawValue: i % 7 == 0 ? rng.next() : rng.next() % 4096)
            let meta = metas[Int(rng.next() % UInt64(metas.count))]
            var e: Event
            if i % 11 == 0 {
                e = .mark(stream, invocation: inv, wallTimeNs: wall, pid: Int32(truncatingIfNeeded: rng.next()), meta: meta)
            } else {
                let ns = i % 13 == 0 ? rng.next() : rng.next() % 100_000_000_000
                // Failed measures without an exit code: most ended by a signal.
                let signal: Int32? = i % 3 == 0 && i % 2 != 0 && i % 9 != 3 ? Int32(1 + rng.next() % 64) : nil
                e = .measure(stream, invocation: inv, durationNs: ns, outcome: i % 3 == 0 ? .failed : .ok,
                             exitCode: i % 2 == 0 ? Int32(truncatingIfNeeded: rng.next()) : nil, signal: signal,
                             wallTimeNs: wall, pid: Int32(truncatingIfNeeded: rng.next()), meta: meta)
            }
            e.seq = rng.next() % 1_000_000
            return e.jsonLine
        }
    }

    static func general(_ bytes: [UInt8]) -> Result<Event?, PerfLogError> {
        Result { () throws(PerfLogError) -> Event? in
            try bytes.withUnsafeBufferPointer { (b: UnsafeBufferPointer<UInt8>) throws(PerfLogError) -> Event? in
                try ImportedEvents.ndjsonLine(b, from: 0, to: b.count, line: 1)
            }
        }
    }

    static func fast(_ bytes: [UInt8], _ parser: inout ImportFastLine) -> Event? {
        bytes.withUnsafeBufferPointer { parser.event($0, from: 0, to: $0.count) }
    }

    @Test("the fast path takes the measures jsonLine writes in plain ASCII, and gives the general parser's event")
    func takesCommonLines() throws {
        var rng = SplitMix64(seed: 11)
        var parser = ImportFastLine()
        var taken = 0
        for line in Self.lines(&rng, count: 3000) {
            let bytes = Array(line.utf8)
            let general = try Self.general(bytes).get()
            if let fast = Self.fast(bytes, &parser) {
                taken += 1
                #expect(general == fast, "\(line)")
            } else if let general, general.kind == .measure, general.durationNs < 1_000_000_000_000_000_000,
                      general.wallTimeNs >= 0, general.wallTimeNs < ISO8601.daysFromCivil(year: 2262, month: 1, day: 1) * 86_400_000_000_000,
                      line.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\\") }) {
                Issue.record("the fast path should take \(line)")
            }
        }
        #expect(taken > 800)
    }

    @Test("signals: the fast path takes only what the general parser accepts, and reads it the same", arguments: [
        (#","outcome":"failed","signal":9,"#, true), (#","outcome":"failed","signal":64,"#, true),
        (#","outcome":"failed","signal":1,"#, true), (#","outcome":"failed","signal":0,"#, false),
        (#","outcome":"failed","signal":65,"#, false), (#","outcome":"failed","signal":-9,"#, false),
        (#","outcome":"failed","signal":9.0,"#, false), (#","outcome":"ok","signal":9,"#, false),
        (#","outcome":"failed","exitCode":137,"signal":9,"#, false), (#","outcome":"failed","signal":"9","#, false),
    ])
    func signals(_ middle: String, valid: Bool) throws {
        var parser = ImportFastLine()
        let line = #"{"seq":7,"time":"2026-01-19T20:50:24.123456Z","kind":"measure","agent":"a","cli":"c","invocation":"00000000000000ff","durationMs":5"#
            + middle + #""pid":3}"#
        let bytes = Array(line.utf8)
        let general = Self.general(bytes)
        let fast = Self.fast(bytes, &parser)
        if valid {
            let event = try #require(fast, "\(line)")
            #expect(general == .success(event))
            #expect(event.signal != nil && event.exitCode == nil)
        } else {
            #expect(fast == nil, "\(line)")
            guard case .failure(.invalidLine(_, let field, _)) = general else { Issue.record("accepted \(line)"); return }
            #expect(field == "signal")
        }
    }

    @Test("mutated lines: whatever the fast path takes, the general parser reads as the same event")
    func agreesOnMutatedLines() {
        var rng = SplitMix64(seed: 29)
        var parser = ImportFastLine()
        let alphabet = Array("0123456789.-+eE\"\\:,{}[] aAfFzZT\r\n\t".utf8) + [0x00, 0x1F, 0x7F, 0xC3, 0xA9, 0xFF]
        let lines = Self.lines(&rng, count: 400)
        var taken = 0
        for round in 0..<20_000 {
            var bytes = Array(lines[round % lines.count].utf8)
            for _ in 0..<(1 + Int(rng.next() % 3)) {
                let at = Int(rng.next() % UInt64(bytes.count + 1))
                let c = alphabet[Int(rng.next() % UInt64(alphabet.count))]
                switch rng.next() % 3 {
                case 0 where at < bytes.count: bytes[at] = c
                case 1 where at < bytes.count: bytes.remove(at: at)
                default: bytes.insert(c, at: at)
                }
            }
            guard let fast = Self.fast(bytes, &parser) else { continue }
            taken += 1
            let general = Self.general(bytes)
            #expect(general == .success(fast), "\(String(decoding: bytes, as: UTF8.self))")
        }
        #expect(taken > 100)
    }
}

@Suite("Import window")
struct ImportWindowTests {
    /// Measures of three streams in no time order, most of them evicted by retain 20,
    /// with repeated lines, several measures in one microsecond, an open mark and marks
    /// whose measures are kept and evicted.
    static func input(seed: UInt64) -> [UInt8] {
        var rng = SplitMix64(seed: seed)
        let streams = ["a", "b", "c"].map { StreamName(unchecked: $0, cli: "claude") }
        var lines: [String] = []
        for i in 0..<1500 {
            let stream = streams[i % 3]
            let us = Int64(rng.next() % 3000) * (i % 10 == 0 ? 1 : 1000)
            var e = Event.measure(stream, invocation: InvocationID(rawValue: rng.next() % 5000), durationNs: rng.next() % 1_000_000_000,
                                  outcome: .ok, wallTimeNs: 1_768_855_824_000_000_000 + us * 1000 + Int64(rng.next() % 1000), pid: 1)
            e.seq = UInt64(i)
            lines.append(e.jsonLine)
            if i % 50 == 0 { lines.append(e.jsonLine) }
        }
        let t: Int64 = 1_768_855_824_000_000_000
        lines.append(Event.mark(streams[0], invocation: InvocationID(rawValue: 0xA1), wallTimeNs: t, pid: 2).jsonLine)
        lines.append(Event.mark(streams[1], invocation: InvocationID(rawValue: 0xB1), wallTimeNs: t, pid: 2).jsonLine)
        lines.append(Event.measure(streams[1], invocation: InvocationID(rawValue: 0xB1), durationNs: 5, outcome: .ok, wallTimeNs: t + 1, pid: 2).jsonLine)
        lines.append(Event.mark(streams[2], invocation: InvocationID(rawValue: 0xC1), wallTimeNs: t, pid: 2).jsonLine)
        lines.append(Event.measure(streams[2], invocation: InvocationID(rawValue: 0xC1), durationNs: 5, outcome: .ok,
                                   wallTimeNs: t + 10_000_000_000_000, pid: 2).jsonLine)
        lines.shuffle(using: &rng)
        return Array((lines.joined(separator: "\n") + "\n").utf8)
    }

    @Test("a streamed import that commits only the window leaves the log that one commit of every event does",
          arguments: [1 as UInt64, 2, 3])
    func windowEqualsOneCommit(seed: UInt64) throws {
        let dir = try TemporaryDirectory()
        let bytes = Self.input(seed: seed)
        let one = try IOFixture.log(dir, "one", retain: 20), streamed = try IOFixture.log(dir, "streamed", retain: 20)
        // A log that already holds some measures of the streams.
        let prior = Array(bytes.split(separator: UInt8(ascii: "\n")).prefix(40).joined(separator: [UInt8(ascii: "\n")]))
        try one.importEvents(ImportedEvents(parsing: prior).events)
        try streamed.importEvents(ImportedEvents(parsing: prior).events)
        let reference = try one.importEvents(ImportedEvents(parsing: bytes).events)
        let counts = try streamed.importStream(ImportBytes(bytes), chunkBytes: 4096)
        #expect(counts.read == reference.read && counts.added == reference.added)
        #expect(counts.added + counts.alreadyPresent + counts.outsideWindow == counts.read)
        #expect(counts.added < counts.read / 10)
        let a = try IOFixture.Contents(one), b = try IOFixture.Contents(streamed)
        #expect(a == b)
        let again = try streamed.importStream(ImportBytes(bytes), chunkBytes: 4096)
        #expect(again.added == 0)
        #expect(try IOFixture.Contents(streamed) == b)
    }

    @Test("a window found for smaller rings than the log's is not used: every record is committed")
    func windowForSmallerRings() throws {
        let dir = try TemporaryDirectory()
        let bytes = Self.input(seed: 4)
        let one = try IOFixture.log(dir, "one", retain: 50), streamed = try IOFixture.log(dir, "streamed", retain: 50)
        try one.importEvents(ImportedEvents(parsing: bytes).events)
        let reader = ImportReader(ImportBytes(bytes))
        let check = try ImportedEvents.check(reader, skipInvalid: false, retain: 10)
        #expect(check.window?.retain == 10)
        _ = try streamed.importCommitting(reader, check: check, skipInvalid: false)
        #expect(try IOFixture.Contents(one) == IOFixture.Contents(streamed))
    }
}
