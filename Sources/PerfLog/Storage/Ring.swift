/// A stream's stored state: its summary and its **ring**, the `seq`s of its newest
/// `retain` measures. Slot `n % retain` holds the `n`-th measure ever appended, so
/// appending overwrites the oldest slot in place.
struct Ring {
    var summary: StreamSummary
    /// `seq`s by slot; `min(appended, retain)` of them.
    var slots: [UInt64]

    init(stream: StreamName) {
        summary = StreamSummary(stream: stream)
        slots = []
    }

    /// What stands in the place of a ring that is lent out (see ``DecodedRings``).
    static let lent = Ring(summary: StreamSummary(stream: StreamName(unchecked: "", cli: "")), slots: [])

    init(summary: StreamSummary, slots: [UInt64]) {
        self.summary = summary
        self.slots = slots
    }

    /// A ring holding `window` (increasing `seq`s, `min(summary.appended, retain)` of
    /// them), laid out in the slots where appending would have put them, so that
    /// ``ordered(retain:)`` returns `window` and the next append evicts its first.
    /// A rewritten stream (a merge) gets its ring this way.
    init(summary: StreamSummary, window: [UInt64], retain: Int) {
        self.summary = summary
        guard summary.appended > UInt64(retain) else {
            slots = window
            return
        }
        let head = Int(summary.appended % UInt64(retain))
        slots = Array(window[(window.count - head)...] + window[..<(window.count - head)])
    }

    /// The `seq` of the oldest retained measure, or `nil` when there is none.
    func oldest(retain: Int) -> UInt64? {
        if slots.isEmpty { return nil }
        return summary.appended <= UInt64(retain) ? slots[0] : slots[Int(summary.appended % UInt64(retain))]
    }

    /// Whether the measure `seq` of this stream is still retained (measures of a stream
    /// are appended in `seq` order, so the window is everything from the oldest on).
    func retains(_ seq: UInt64, retain: Int) -> Bool {
        guard let oldest = oldest(retain: retain) else { return false }
        return seq >= oldest
    }

    /// The retained `seq`s, oldest first.
    func ordered(retain: Int) -> [UInt64] {
        guard summary.appended > UInt64(retain) else { return slots }
        let head = Int(summary.appended % UInt64(retain))
        return Array(slots[head...] + slots[..<head])
    }

    /// Puts `seq` in the next slot; returns the `seq` it evicted, if the ring was full.
    mutating func push(_ seq: UInt64, retain: Int) -> UInt64? {
        let slot = Int(summary.appended % UInt64(retain))
        summary.appended += 1
        if slot < slots.count {
            let evicted = slots[slot]
            slots[slot] = seq
            return evicted
        }
        slots.append(seq)
        return nil
    }
}
