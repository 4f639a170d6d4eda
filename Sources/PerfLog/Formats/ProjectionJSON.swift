#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// agent-performance.json, schema version 1, written by hand into a byte buffer: a
// projection of 1M measures is ~130 MB of text, and building it through String or
// Foundation's encoder would cost several times the whole budget.
//
// Layout (fixed, so that equal projections give equal bytes):
//
//     {
//       "schemaVersion": 1,
//       "generatedAt": "2026-01-19T20:50:24.123Z",
//       "retain": 100,
//       "streams": [
//         { "agent": "planner", "cli": "claude", "count": 100, … },
//         …
//       ],
//       "comparisons": [
//         { "agent": "planner", "fastestCli": "codex", "byCli": [{ "cli": "codex", … }, …] }
//       ],
//       "measurements": [
//         { "agent": "planner", "cli": "claude", "duration": 812.413, "timestamp": "…", "success": true }
//       ]
//     }
//
// Two-space indentation; one record per line (greppable, and a diff shows which records
// changed), with `": "` and `", "` between tokens and spaces inside the record's braces
// as in DESIGN.md's example; an empty array is `[]`; the file ends with a newline. Keys
// in the order shown in ``Projection/jsonBytes``.
//
// Numbers: durations are milliseconds rounded to the microsecond (halves away from
// zero), written minimally without an exponent (`812.413`, `1000`, `0.001`,
// `10000000`); `relative`, `relativeUncertainty` and `pValue` are rounded to six
// decimals the same way (a p-value below 5e-7 shows as 0); figures that do not exist are
// `null`. Times are ISO 8601 UTC with milliseconds, truncated (``Timestamp``).
//
// generatedAt is the wall-clock time of the newest event (highest seq) the projection
// covers, not the time of writing: the wall clock would make two projections of the same
// log differ, and the file would have to be rewritten on every run. An empty log gives
// the Unix epoch.

extension Projection {
    /// `agent-performance.json` (schema version 1) as UTF-8 bytes, ending with a newline.
    ///
    /// Keys, in order: `schemaVersion`, `generatedAt`, `retain`, `streams`,
    /// `comparisons`, `measurements`. Each stream: `agent`, `cli`, `count`, `failures`,
    /// `inFlight`, `abandoned`, `meanMs`, `minMs`, `p50Ms`, `p90Ms`, `p99Ms`, `maxMs`,
    /// `stddevMs`, `firstAt`, `lastAt`, `p95Ms`, `outliers`. Each comparison: `agent`,
    /// `fastestCli`, `byCli` (each: `cli`, `meanMs`, `relative`, `relativeUncertainty`,
    /// `pValue`). Each measurement: `agent`, `cli`, `duration` (ms), `timestamp`,
    /// `success`. Equal projections give equal bytes.
    /// How every `agent-performance.json` perflog writes begins: what tells its own
    /// file from another's before replacing it.
    static let jsonSignature = "{\n  \"schemaVersion\": 1,\n  \"generatedAt\":"

    /// The old tracker's flat array of ``measurements``, as `perflog export --format
    /// seed` writes it (one implementation: ``EventExporter``).
    public var seedBytes: [UInt8] {
        var exporter = EventExporter(format: .seed)
        var out = ""
        out.reserveCapacity(16 + measurements.count * 120)
        exporter.begin(into: &out)
        for m in measurements {
            exporter.write(.measure(m.stream, invocation: InvocationID(rawValue: 0), durationNs: m.durationNs, outcome: m.outcome,
                                    exitCode: nil, wallTimeNs: m.wallTimeNs, pid: 0, meta: Metadata()), into: &out)
        }
        exporter.end(into: &out)
        return Array(out.utf8)
    }

    public var jsonBytes: [UInt8] {
        var out = JSONBuffer(capacity: 256 + streams.count * 480 + comparisons.count * 160 + measurements.count * 136)
        out.raw(Projection.jsonSignature)
        out.raw(" ")
        out.timestamp(generatedAtNs)
        out.raw(",\n  \"retain\": ")
        out.uint(UInt64(retain))
        out.raw(",\n  \"streams\": [")

        // Each stream's names, quoted once; measurements reuse them.
        var prefixes: [[UInt8]] = []
        prefixes.reserveCapacity(streams.count)
        for (i, s) in streams.enumerated() {
            var names = JSONBuffer(capacity: 64)
            names.raw("{ \"agent\": ")
            names.quoted(s.stream.agent)
            names.raw(", \"cli\": ")
            names.quoted(s.stream.cli)
            prefixes.append(names.bytes)

            out.raw(i == 0 ? "\n    " : ",\n    ")
            out.raw(names.bytes)
            out.raw(", \"count\": "); out.uint(UInt64(s.count))
            out.raw(", \"failures\": "); out.uint(UInt64(s.failures))
            out.raw(", \"inFlight\": "); out.uint(UInt64(s.inFlight))
            out.raw(", \"abandoned\": "); out.uint(UInt64(s.abandoned))
            let d = s.durations
            out.raw(", \"meanMs\": "); out.milliseconds(d?.meanNs)
            out.raw(", \"minMs\": "); out.milliseconds(d?.minNs)
            out.raw(", \"p50Ms\": "); out.milliseconds(d?.p50Ns)
            out.raw(", \"p90Ms\": "); out.milliseconds(d?.p90Ns)
            out.raw(", \"p99Ms\": "); out.milliseconds(d?.p99Ns)
            out.raw(", \"maxMs\": "); out.milliseconds(d?.maxNs)
            out.raw(", \"stddevMs\": "); out.milliseconds(d?.stddevNs)
            out.raw(", \"firstAt\": "); out.timestamp(s.firstAtNs)
            out.raw(", \"lastAt\": "); out.timestamp(s.lastAtNs)
            out.raw(", \"p95Ms\": "); out.milliseconds(d?.p95Ns)
            out.raw(", \"outliers\": "); out.uint(UInt64(d?.outliers ?? 0))
            out.raw(", \"total\": "); out.uint(s.total)
            out.raw(", \"totalFailures\": "); out.uint(s.totalFailures)
            out.raw(" }")
        }
        out.raw(streams.isEmpty ? "],\n  \"comparisons\": [" : "\n  ],\n  \"comparisons\": [")

        for (i, c) in comparisons.enumerated() {
            out.raw(i == 0 ? "\n    " : ",\n    ")
            c.write(.clis, to: &out)
        }
        out.raw(comparisons.isEmpty ? "],\n  \"measurements\": [" : "\n  ],\n  \"measurements\": [")

        // Finding a measurement's stream: the projector records its index; a hand-built
        // or edited projection falls back to a lookup by name.
        var index: [StreamName: Int]?
        for (i, m) in measurements.enumerated() {
            var k = Int(m.streamIndex)
            if k < 0 || k >= streams.count || streams[k].stream != m.stream {
                if index == nil {
                    index = Dictionary(streams.enumerated().map { ($1.stream, $0) }, uniquingKeysWith: { a, _ in a })
                }
                k = index?[m.stream] ?? -1
            }
            out.raw(i == 0 ? "\n    " : ",\n    ")
            if k >= 0 {
                out.raw(prefixes[k])
            } else {
                out.raw("{ \"agent\": ")
                out.quoted(m.stream.agent)
                out.raw(", \"cli\": ")
                out.quoted(m.stream.cli)
            }
            out.raw(", \"duration\": ")
            out.milliseconds(nanoseconds: m.durationNs)
            out.raw(", \"timestamp\": ")
            out.timestamp(m.wallTimeNs)
            out.raw(m.outcome == .ok ? ", \"success\": true }" : ", \"success\": false }")
        }
        out.raw(measurements.isEmpty ? "]\n}\n" : "\n  ]\n}\n")
        return out.bytes
    }

    /// ``jsonBytes`` as a string.
    public var json: String { String(decoding: jsonBytes, as: UTF8.self) }
}
