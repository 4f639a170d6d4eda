import LMDB

/// One stream that ``EventLog/renameStreams(_:toAgent:cli:)`` renamed.
public struct RenamedStream: Sendable, Hashable {
    /// The name it had.
    public var from: StreamName
    /// The name it has now.
    public var to: StreamName
    /// Whether `to` already existed (or was made by an earlier stream of the same
    /// rename), so that the two were merged.
    public var merged: Bool
    /// Measures in the two windows together (the union), before the merge.
    public var measures: Int
    /// Of those, the ones the merged window kept: the newest `retain`.
    public var kept: Int
    /// Open marks (invocations in flight) that moved to `to`.
    public var marksMoved: Int
}

extension EventLog {
    /// Renames stream `from` to `to`; see ``renameStreams(_:toAgent:cli:)``.
    /// - Returns: what happened, or `nil` when the log has no stream `from`, or `to`
    ///   is `from`.
    /// - Throws: as ``renameStreams(_:toAgent:cli:)``.
    @discardableResult
    public func renameStream(_ from: StreamName, to: StreamName) throws(PerfLogError) -> RenamedStream? {
        try renameStreams(StreamFilter(agent: from.agent, cli: from.cli), toAgent: to.agent, cli: to.cli).first
    }

    /// Gives every stream `filter` keeps the agent name `toAgent` and, when given, the
    /// CLI name `toCLI` (a `nil` keeps each one's own), in one commit.
    ///
    /// A stream whose new name is free keeps everything, its id included: only its name
    /// changes. One whose new name is taken is **merged** into that stream:
    ///
    /// - the merged window is the newest `retain` measures of the two windows together,
    ///   newest by wall time, then by `seq`; the others are deleted;
    /// - events keep their `seq`s, so the timeline (`tail`, exports) is unchanged, and
    ///   the ring is in `seq` order as every ring is, so the next append evicts the
    ///   kept measure with the lowest `seq` (when wall time and commit order agree,
    ///   as they do for events recorded as they happen, that is the oldest);
    /// - open marks move along;
    /// - the lifetime counters add up (ok, failed, the sum of ok durations, each
    ///   histogram bucket), and start at the earlier of the two starts;
    /// - evicted measures of both not yet collected are deleted.
    ///
    /// Several streams renamed to one name are merged one after another, in name order,
    /// which is the same as merging them all at once. A stream whose name does not
    /// change is left as it is. A recorder that goes on using an old name makes that
    /// stream anew. A compaction running meanwhile is waited for, up to the wait bound;
    /// a crash leaves the log as it was before.
    /// - Returns: what happened to each stream renamed, in the order of their old names;
    ///   empty when `filter` keeps no stream.
    /// - Throws: ``PerfLogError``: `invalidInput` naming `agent` or `cli` when a new
    ///   name breaks the rules for names, or naming `streams` for an empty filter (which
    ///   would rename every stream); `busy` when a compaction or another writer keeps
    ///   the log past the wait bound; `corrupt` when a record or event involved does not
    ///   decode (nothing is changed); `storage`.
    @discardableResult
    public func renameStreams(_ filter: StreamFilter, toAgent: String, cli toCLI: String? = nil) throws(PerfLogError) -> [RenamedStream] {
        guard !filter.isEmpty else {
            throw .invalidInput(field: "streams", rule: "name the agent or the CLI whose streams to rename")
        }
        try StreamName.validate(toAgent, field: "agent")
        if let toCLI { try StreamName.validate(toCLI, field: "cli") }
        let renamed = try maintenanceWrite(operation: "renaming streams") { txn, _ in
            var edit = try StreamEdit(txn: txn, log: self)
            var moves: [(from: StreamName, to: StreamName, id: UInt32)] = []
            for s in try edit.reader.streams(filter) {
                let to = StreamName(unchecked: toAgent, cli: toCLI ?? s.stream.cli)
                if to != s.stream, let id = try edit.load(s.stream) { moves.append((s.stream, to, id)) }
            }
            guard !moves.isEmpty else { return [RenamedStream]() }
            var targets: [StreamName: UInt32] = [:]
            for to in Set(moves.map(\.to)) { if let id = try edit.load(to) { targets[to] = id } }
            // The evicted measures of the streams a merge will rewrite go first, while
            // each ring still tells its evicted measures from its retained ones (a
            // stream only renamed keeps its ring, and with it its garbage).
            let sharing = Dictionary(grouping: moves, by: \.to).filter { $0.value.count > 1 || targets[$0.key] != nil }
            _ = try edit.deleteEvicted(of: Set(sharing.values.joined().map(\.id)).union(targets.values))
            var out: [RenamedStream] = []
            for move in moves {
                if let target = targets[move.to] {
                    out.append(try edit.merge(move.id, into: target, as: move.to))
                } else {
                    out.append(try edit.rename(move.id, to: move.to))
                    targets[move.to] = move.id
                }
            }
            try edit.finish()
            return out
        }
        forgetIDs(of: renamed.map(\.from))
        return renamed
    }
}

extension StreamEdit {
    /// Gives stream `id` (loaded) the name `to`, which no stream has: the record and the
    /// `names` entry change, the events (which name the stream by id) do not.
    /// - Throws: `LMDBError`.
    mutating func rename(_ id: UInt32, to: StreamName) throws -> RenamedStream {
        guard var ring = rings[id] else { throw PerfLogError.corrupt(what: "the record of stream \(id) is missing") }
        let from = ring.summary.stream
        _ = try txn.delete(dbs.names, key: Keys.name(from))
        try txn.putStreamID(id, of: to, in: dbs)
        ring.summary.stream = to
        try store(ring, id: id)
        return RenamedStream(from: from, to: to, merged: false, measures: ring.summary.count, kept: ring.summary.count,
                             marksMoved: ring.summary.inFlight)
    }

    /// Merges stream `source` into stream `target` (both loaded, their evicted
    /// measures already deleted), which is named `name`; see
    /// ``EventLog/renameStreams(_:toAgent:cli:)`` for what is kept.
    /// - Throws: ``PerfLogError/corrupt(what:)`` when a measure or mark does not decode;
    ///   `LMDBError`.
    mutating func merge(_ source: UInt32, into target: UInt32, as name: StreamName) throws -> RenamedStream {
        guard let from = rings[source], let into = rings[target] else {
            throw PerfLogError.corrupt(what: "the record of stream \(source) or \(target) is missing")
        }
        let incoming = try measures(of: source)
        let union = (incoming + (try measures(of: target))).sorted {
            $0.wallTimeNs != $1.wallTimeNs ? $0.wallTimeNs < $1.wallTimeNs : $0.seq < $1.seq
        }
        let kept = union.suffix(retain)
        for e in union.prefix(union.count - kept.count) { try delete(e.seq) }
        let movedSeqs = Set(incoming.map(\.seq))
        var summary = StreamSummary(stream: name)
        for e in kept {
            summary.add(e)
            if movedSeqs.contains(e.seq) { try put(e, stream: target) }
        }
        let marksMoved = try moveOpenMarks(from: source, to: target)
        summary.inFlight = into.summary.inFlight + marksMoved
        summary.lastSeq = max(into.summary.lastSeq, from.summary.lastSeq)
        summary.lifetime = into.summary.lifetime
        summary.lifetime.merge(from.summary.lifetime)
        // A window that is not full holds every measure ever appended to it; a full one
        // counts both streams' appends, so that a writer holding the target's ring
        // from before (see ``RetryIndex``) sees the record changed.
        summary.appended = kept.count < retain ? UInt64(kept.count) : into.summary.appended + from.summary.appended
        try deleteRecord(of: source)
        try store(Ring(summary: summary, window: kept.map(\.seq).sorted(), retain: retain), id: target)
        return RenamedStream(from: from.summary.stream, to: name, merged: true, measures: union.count, kept: kept.count,
                             marksMoved: marksMoved)
    }
}
