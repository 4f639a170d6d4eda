// Single objects of agent-performance.json, for tools that print one part of a
// projection (`perflog stats --json`, `perflog compare --json`) and promise the same
// bytes the file holds. They are cut from the file's own rendering rather than written
// a second time, so the two can never drift apart: the file puts every stream and every
// comparison on a line of its own, indented by four spaces, and escapes line breaks
// inside strings.

extension StreamStatistics {
    /// This stream's object exactly as `agent-performance.json` lists it under `streams`:
    /// one line, keys in the file's order, without indentation or a trailing comma.
    public var jsonObject: String {
        Projection.objectLines(of: Projection(
            generatedAtNs: 0, retain: 1, lastSeq: 0, streams: [self], comparisons: [], measurements: []))[0]
    }
}

extension Comparison {
    /// This comparison's object exactly as `agent-performance.json` lists it under
    /// `comparisons`: one line, without indentation or a trailing comma.
    public var jsonObject: String {
        Projection.objectLines(of: Projection(
            generatedAtNs: 0, retain: 1, lastSeq: 0, streams: [], comparisons: [self], measurements: []))[0]
    }

    /// What a comparison ranks, which names the keys of its JSON object.
    public enum Subject: Sendable, Hashable {
        /// One agent's CLIs: `agent`, `fastestCli`, `byCli` (each: `cli`, …), the object
        /// of `agent-performance.json`.
        case clis
        /// One agent's measures grouped by the value of a metadata key (see
        /// ``Projector/compare(_:agent:byMeta:timeRange:)``): the object of ``clis`` with
        /// `"by": KEY` after `agent`; each entry's `cli` holds a group's label.
        case metadata(key: String)
        /// The agents of one CLI (see ``Projector/compare(_:agentsOn:now:timeRange:)``):
        /// `cli`, `fastestAgent`, `byAgent` (each: `agent`, `meanMs`, `relative`,
        /// `relativeUncertainty`, `pValue`), read from ``agent`` and the entries' `cli`.
        case agents
    }

    /// This comparison as one line of JSON with the keys `subject` names (for ``Subject/clis``
    /// the same bytes as ``jsonObject``).
    public func jsonObject(_ subject: Subject) -> String {
        var out = JSONBuffer(capacity: 96 + byCli.count * 112)
        write(subject, to: &out)
        return String(decoding: out.bytes, as: UTF8.self)
    }

    /// Appends this comparison's object, keys as `subject` names them: the one writer of
    /// comparison objects, the file's included.
    func write(_ subject: Subject, to out: inout JSONBuffer) {
        let (whole, fastestKey, listKey, entryKey): (StaticString, StaticString, StaticString, StaticString)
        switch subject {
        case .clis, .metadata: (whole, fastestKey, listKey, entryKey) = ("agent", "fastestCli", "byCli", "cli")
        case .agents: (whole, fastestKey, listKey, entryKey) = ("cli", "fastestAgent", "byAgent", "agent")
        }
        out.raw("{ \""); out.raw(whole); out.raw("\": ")
        out.quoted(agent)
        if case .metadata(let key) = subject {
            out.raw(", \"by\": ")
            out.quoted(key)
        }
        out.raw(", \""); out.raw(fastestKey); out.raw("\": ")
        if let f = fastestCli { out.quoted(f) } else { out.raw("null") }
        out.raw(", \""); out.raw(listKey); out.raw("\": [")
        for (j, e) in byCli.enumerated() {
            out.raw(j == 0 ? "{ \"" : ", { \""); out.raw(entryKey); out.raw("\": ")
            out.quoted(e.cli)
            out.raw(", \"meanMs\": "); out.milliseconds(e.meanNs)
            out.raw(", \"relative\": "); out.fixed6(e.relative)
            out.raw(", \"relativeUncertainty\": "); out.fixed6(e.relativeUncertainty)
            out.raw(", \"pValue\": "); out.fixed6(e.pValue)
            out.raw(" }")
        }
        out.raw("] }")
    }
}

extension Projection {
    /// The objects of `projection`'s arrays, in order, as the file writes them.
    fileprivate static func objectLines(of projection: Projection) -> [String] {
        var lines: [String] = []
        for line in projection.json.split(separator: "\n") where line.hasPrefix("    {") {
            var object = line.dropFirst(4)
            if object.hasSuffix(",") { object = object.dropLast() }
            lines.append(String(object))
        }
        return lines
    }
}
