import Foundation
import LMDB
@testable import PerfLog
import PerfLogTestSupport
import Testing

/// A log of several streams for the forget and rename tests: evictions (some still
/// stored as garbage), failures and open marks, and a quiet stream whose old measure
/// keeps the collection mark back so that garbage stays.
struct StreamEditFixture {
    static let retain = 5
    let dir: TemporaryDirectory
    let log: EventLog
    let quiet: StreamName, spaced: StreamName, spacedCodex: StreamName, planner: StreamName, coder: StreamName

    init() throws {
        quiet = try StreamName(agent: "archivist", cli: "gemini")
        spaced = try StreamName(agent: " planner ", cli: "claude")
        spacedCodex = try StreamName(agent: " planner ", cli: "codex")
        planner = try StreamName(agent: "Planner", cli: "claude")
        coder = try StreamName(agent: "coder", cli: "codex")
        dir = try TemporaryDirectory()
        var options = EventLog.Options()
        options.retain = Self.retain
        log = try EventLog(path: dir.path + "/log", options: options)
        try log.append([.measure(quiet, invocation: .random(), durationNs: 7_000_000, outcome: .ok, wallTimeNs: 1, pid: 1)])
        // " planner "/claude first: lower seqs, odd wall times; Planner/claude after it,
        // even wall times. Seq order and time order of the two disagree on purpose.
        for i in 0..<7 {
            try log.append([.measure(spaced, invocation: .random(), durationNs: UInt64(10_000_000 + i * 1_000_000),
                                     outcome: i == 5 ? .failed : .ok, exitCode: i == 5 ? 1 : 0, wallTimeNs: Int64(1_000 + 2 * i + 1), pid: 1)])
        }
        for i in 0..<6 {
            try log.append([.measure(planner, invocation: .random(), durationNs: UInt64(20_000_000 + i * 1_000_000),
                                     outcome: i == 4 ? .failed : .ok, wallTimeNs: Int64(1_000 + 2 * i + 2), pid: 2)])
        }
        for i in 0..<8 {
            try log.append([
                .measure(coder, invocation: .random(), durationNs: UInt64(30_000_000 + i), outcome: .ok, wallTimeNs: Int64(2_000 + i), pid: 3),
                .measure(spacedCodex, invocation: .random(), durationNs: UInt64(40_000_000 + i), outcome: .ok, wallTimeNs: Int64(2_000 + i), pid: 3),
            ])
        }
        try log.append([
            .mark(spaced, invocation: .random(), wallTimeNs: 3_000, pid: 4),
            .mark(spaced, invocation: .random(), wallTimeNs: 3_001, pid: 4),
            .mark(planner, invocation: .random(), wallTimeNs: 3_002, pid: 5),
            .mark(coder, invocation: .random(), wallTimeNs: 3_003, pid: 6),
        ])
    }

    /// Every stream record as stored, by stream name.
    func records() throws -> [StreamName: [UInt8]] {
        try log.read { r in
            try r.txn.withCursor(r.dbs.streams) { c in
                var out: [StreamName: [UInt8]] = [:]
                var entries = try c.entries()
                while let (_, v) = try entries.next() { out[try RingRecord.decodeSummary(v).stream] = Array(v) }
                return out
            }
        }
    }

    /// Every stored event as stored, by `seq`, with the id of its stream.
    func storedEvents() throws -> [UInt64: (stream: UInt32, bytes: [UInt8])] {
        try log.read { r in
            try r.txn.withCursor(r.dbs.events) { c in
                var out: [UInt64: (stream: UInt32, bytes: [UInt8])] = [:]
                var entries = try c.entries()
                while let (k, v) = try entries.next() { out[Keys.integer(k)] = (StoredEvent.stream(v) ?? 0, Array(v)) }
                return out
            }
        }
    }

    /// The stream id of `stream`, or nil.
    func id(_ stream: StreamName) throws -> UInt32? {
        try log.read { r in try r.streamID(stream) }
    }

    /// The `garbage` counter: evicted measures still stored.
    func garbage() throws -> UInt64 {
        try log.read { r in try r.txn.counter(.garbage, in: r.dbs) }
    }
}
