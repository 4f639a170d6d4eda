import PerfLog
import Synchronization

/// The marks a service received and has not seen the measure of, by invocation: so
/// that a measure without a duration is timed against its mark on the service's
/// monotonic clock, without a read of the log.
///
/// Bounded: past ``capacity`` the oldest are forgotten (a measure that ends one is then
/// paired through the log's open marks, on wall-clock times).
final class OpenMarks: Sendable {
    struct Entry {
        var mark: Event
        var receivedNs: UInt64?
    }

    struct State {
        var entries: [InvocationID: Entry] = [:]
        /// Insertion order, for forgetting the oldest; may name entries already taken.
        var order: [InvocationID] = []
        var orderHead = 0
    }

    let capacity: Int
    private let state = Mutex(State())
    /// How many entries there are, read without the lock to skip it when there are none.
    private let count = Atomic<Int>(0)

    init(capacity: Int) { self.capacity = capacity }

    func insert(_ mark: Event, receivedNs: UInt64?) {
        state.withLock { s in
            s.entries[mark.invocation] = Entry(mark: mark, receivedNs: receivedNs)
            s.order.append(mark.invocation)
            while s.entries.count > capacity, s.orderHead < s.order.count {
                s.entries.removeValue(forKey: s.order[s.orderHead])
                s.orderHead += 1
            }
            if s.orderHead > 4096 && s.orderHead * 2 > s.order.count {
                s.order.removeFirst(s.orderHead)
                s.orderHead = 0
            }
            count.store(s.entries.count, ordering: .relaxed)
        }
    }

    /// Removes and returns the mark of `invocation`, with when it was received.
    func take(_ invocation: InvocationID) -> (Event, UInt64?)? {
        guard count.load(ordering: .relaxed) > 0 else { return nil }
        return state.withLock { s in
            guard let e = s.entries.removeValue(forKey: invocation) else { return nil }
            if s.entries.isEmpty { s.order.removeAll(keepingCapacity: true); s.orderHead = 0 }
            count.store(s.entries.count, ordering: .relaxed)
            return (e.mark, e.receivedNs)
        }
    }

    /// Forgets the mark of `invocation`, if any (its measure came with a duration).
    func remove(_ invocation: InvocationID) {
        _ = take(invocation)
    }
}
