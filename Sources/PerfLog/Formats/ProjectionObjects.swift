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
