/// Which records of an import's input can end up in a log whose rings keep `retain`
/// measures a stream, found by the first pass so that the second parses and commits only
/// those: an import of two million lines into rings of a hundred would otherwise append
/// every measure and evict nearly all of them again.
///
/// An import never keeps a measure that its own input ranks below `retain` newer
/// distinct measures of the same stream (``EventLog/importEvents(_:)``: only the newest
/// `retain` newer than the ring are appended, older ones only fill free slots), so the
/// events kept here, committed, give the log that all of them give. Measures are ranked
/// by whole microseconds, the precision by which a repeated measure is recognised, and a
/// microsecond is kept or dropped whole: a measure and its repeats stay together. Marks
/// are all kept, and so is every measure that a mark of the input names, since a mark
/// takes its measure's fate.
///
/// Memory: about `retain` small entries a stream (more only when many measures share one
/// microsecond), plus one a mark; not the input's size.
package struct ImportWindow: Sendable {
    /// The ring size the window was found for; it holds for any log keeping at most that.
    package var retain: Int
    /// Positions (NDJSON line numbers, flat-array element numbers) of the records to
    /// commit, ascending.
    package var positions: [Int]
    /// The streams and invocations of the input's marks: measures of these are committed
    /// wherever they are, so the second pass parses every record when there are any.
    package var markKeys: Set<ImportMarkKey>

    /// Whether the record at `position` is kept, for positions asked in ascending order
    /// (`cursor` remembers where the last one was found).
    func keeps(_ position: Int, cursor: inout Int) -> Bool {
        while cursor < positions.count && positions[cursor] < position { cursor += 1 }
        return cursor < positions.count && positions[cursor] == position
    }
}

/// A stream and an invocation: a mark and its measure share them.
package struct ImportMarkKey: Hashable, Sendable {
    var stream: StreamName
    var invocation: InvocationID
}

/// Builds an ``ImportWindow`` from the events of a first pass, one at a time.
struct ImportWindowBuilder {
    let retain: Int
    private var streams: [StreamName: StreamWindow] = [:]
    private var marks: [Int] = []
    private var markKeys: Set<ImportMarkKey> = []

    init(retain: Int) { self.retain = max(1, retain) }

    mutating func add(_ event: Event, at position: Int) {
        if event.kind == .mark {
            marks.append(position)
            markKeys.insert(ImportMarkKey(stream: event.stream, invocation: event.invocation))
            return
        }
        // Floor division, as the import's identity of a measure truncates.
        let t = event.wallTimeNs
        let micro = t / 1000 - (t % 1000 < 0 ? 1 : 0)
        streams[event.stream, default: StreamWindow()].add(micro: micro, invocation: event.invocation.rawValue,
                                                         position: position, retain: retain)
    }

    func window() -> ImportWindow {
        var positions = marks
        for s in streams.values { s.appendPositions(to: &positions) }
        positions.sort()
        return ImportWindow(retain: retain, positions: positions, markKeys: markKeys)
    }
}

/// The newest microseconds of one stream's measures that hold at least `retain` distinct
/// measures (fewer only while the input has fewer), each with the records in it.
private struct StreamWindow {
    struct Group {
        var position: Int
        var invocation: UInt64
        /// Further records of the same microsecond: rare, so not allocated for the first.
        var more: [(position: Int, invocation: UInt64)] = []
        /// Distinct invocations of the group, once it is large enough for a scan to cost.
        var invocations: Set<UInt64>? = nil
        var distinct = 1

        mutating func add(position p: Int, invocation inv: UInt64) {
            let repeated: Bool
            if let invocations {
                repeated = invocations.contains(inv)
            } else {
                repeated = inv == invocation || more.contains { $0.invocation == inv }
            }
            more.append((p, inv))
            if more.count == 16 && invocations == nil {
                invocations = Set([invocation] + more.map(\.invocation))
            } else {
                invocations?.insert(inv)
            }
            if !repeated { distinct += 1 }
        }
    }

    var groups: [Int64: Group] = [:]
    /// A binary min-heap of the groups' microseconds.
    var heap: [Int64] = []
    var distinct = 0

    mutating func add(micro: Int64, invocation: UInt64, position: Int, retain: Int) {
        if distinct >= retain, let lowest = heap.first, micro < lowest { return }
        if groups[micro] != nil {
            let before = groups[micro]!.distinct
            groups[micro]!.add(position: position, invocation: invocation)
            distinct += groups[micro]!.distinct - before
        } else {
            groups[micro] = Group(position: position, invocation: invocation)
            distinct += 1
            push(micro)
        }
        while let lowest = heap.first, let g = groups[lowest], distinct - g.distinct >= retain {
            distinct -= g.distinct
            groups[lowest] = nil
            pop()
        }
    }

    func appendPositions(to positions: inout [Int]) {
        for g in groups.values {
            positions.append(g.position)
            for m in g.more { positions.append(m.position) }
        }
    }

    private mutating func push(_ v: Int64) {
        heap.append(v)
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard heap[parent] > heap[i] else { break }
            heap.swapAt(parent, i)
            i = parent
        }
    }

    private mutating func pop() {
        let last = heap.removeLast()
        guard !heap.isEmpty else { return }
        heap[0] = last
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < heap.count && heap[l] < heap[m] { m = l }
            if r < heap.count && heap[r] < heap[m] { m = r }
            if m == i { break }
            heap.swapAt(i, m)
            i = m
        }
    }
}
