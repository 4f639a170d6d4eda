import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What the recorder's writer thread shares with recording threads: the buffer and
/// counters under one lock, and the commit loop.
final class Core: Sendable {
    let log: EventLog
    let options: Recorder.Options
    /// With ``Recorder/Options/skipsRetries``: what the rings hold, to skip measures sent again.
    let retries: RetryIndex?
    /// The rings this writer decoded or wrote, for its next commits.
    let rings = DecodedRings()
    let monitor: Monitor<Recorder.State>
    /// Signalled when the writer has work (or should stop).
    let work = Monitor<Recorder.State>.Condition()
    /// Signalled after every commit: room in the buffer, progress for flushes.
    let progress = Monitor<Recorder.State>.Condition()

    init(log: EventLog, options: Recorder.Options, state: Recorder.State) {
        self.log = log
        self.options = options
        retries = options.skipsRetries ? RetryIndex() : nil
        monitor = Monitor(state)
    }


    func runWriter() {
        let maxDelayNs = UInt64(options.maxDelay.components.seconds) * 1_000_000_000
            + UInt64(options.maxDelay.components.attoseconds / 1_000_000_000)
        let syncIntervalNs = UInt64(options.syncInterval.components.seconds) * 1_000_000_000
        var lastSyncNs = EventClock.monotonicNs()
        var unsynced = false
        var batch: [Event] = []
        batch.reserveCapacity(options.maxBatch)
        let debounceNs = UInt64(options.projectionDebounce.components.seconds) * 1_000_000_000
            + UInt64(options.projectionDebounce.components.attoseconds / 1_000_000_000)
        var projectionDue: UInt64?
        /// When the oldest commit the projection does not cover yet was made.
        var projectionBehindSince: UInt64?
        let maxLagNs = UInt64(options.projectionMaxLag.components.seconds) * 1_000_000_000
            + UInt64(options.projectionMaxLag.components.attoseconds / 1_000_000_000)
        let waitLimitNs = ProjectionWatcher.ns(log.waitLimit)

        while true {
            // Sleep until there is work. With a projection pending, sleep only until it is
            // due, and write it if still idle.
            let ready = monitor.wait(on: work, deadlineNs: projectionDue) { s in
                let ready = !s.buffer.isEmpty || s.closing || s.settlementHead < s.settlement.count
                s.writerIdle = !ready
                return ready
            }
            if !ready {
                monitor.withLock { $0.writerIdle = false }
                writeProjection()
                projectionDue = nil
                projectionBehindSince = nil
                continue
            }
            // Group commit: with no delay set, what came while the last commit ran is the
            // next batch, and an idle writer commits a lone event at once.
            if maxDelayNs > 0 {
                let deadline: UInt64 = monitor.withLock { $0.firstPendingNs &+ maxDelayNs }
                monitor.wait(on: work, deadlineNs: deadline) { s in
                    s.closing || s.flushRequested || s.buffer.count >= options.maxBatch
                }
            }
            var batchSinceNs: UInt64 = 0
            let stop: Bool = monitor.withLock { s in
                batchSinceNs = s.firstPendingNs
                if s.buffer.isEmpty { s.flushRequested = false }
                if s.closing && s.buffer.isEmpty && s.settlementHead == s.settlement.count { return true }
                if s.buffer.count <= options.maxBatch {
                    // Trade buffers rather than copy: recording threads wait on this lock.
                    swap(&batch, &s.buffer)
                } else {
                    batch.append(contentsOf: s.buffer[..<options.maxBatch])
                    s.buffer.removeFirst(options.maxBatch)
                }
                if s.buffer.isEmpty {
                    s.flushRequested = false
                } else {
                    s.firstPendingNs = EventClock.monotonicNs()
                }
                return false
            }
            if stop { break }
            commit(&batch, lockDeadlineNs: batchSinceNs &+ waitLimitNs)
            unsynced = true
            if options.projectionPath != nil {
                let now = EventClock.monotonicNs()
                projectionDue = now &+ debounceNs
                if projectionBehindSince == nil { projectionBehindSince = now }
                if let since = projectionBehindSince, now &- since >= maxLagNs {
                    writeProjection()
                    projectionDue = nil
                    projectionBehindSince = nil
                }
            }
            if log.durability == .fast, EventClock.monotonicNs() &- lastSyncNs >= syncIntervalNs {
                syncFast()
                lastSyncNs = EventClock.monotonicNs()
                unsynced = false
            }
        }
        if unsynced && log.durability == .fast { syncFast() }
        if projectionDue != nil { writeProjection() }
        let observers: [AsyncStream<Event>.Continuation] = monitor.withLock { s in
            s.finished = true
            defer { s.observers = [:] }
            return Array(s.observers.values)
        }
        for o in observers { o.finish() }
        progress.broadcast()
    }

    /// Commits `batch`, waiting for the log's write lock until `lockDeadlineNs`.
    private func commit(_ batch: inout [Event], lockDeadlineNs: UInt64) {
        let count = UInt64(batch.count)
        var failure: PerfLogError?
        var first: UInt64 = 0
        var duplicates: UInt64 = 0
        do {
            if count > 0, let retries {
                let appended = try log.append(batch, deadlineNs: lockDeadlineNs, retries: retries, rings: rings)
                first = appended.first
                if appended.kept.count != batch.count {
                    duplicates = count - UInt64(appended.kept.count)
                    batch = appended.kept
                }
            } else if count > 0 {
                first = try log.append(batch, deadlineNs: lockDeadlineNs, rings: rings)
            }
        } catch {
            failure = error
            options.logger.error("perflog: a commit of \(count) events failed; they are lost: \(error)",
                                 metadata: ["log": "\(log.path)"])
        }
        var settledCallbacks: [Recorder.Settlement] = []
        let observers: [AsyncStream<Event>.Continuation] = monitor.withLock { s in
            let from = s.settled
            s.settled += count
            if let failure {
                s.counters.lost += count
                s.counters.failedCommits += 1
                if s.unreportedError == nil { s.unreportedError = failure }
                // Every waiting callback with an event in this batch has lost it.
                var k = s.settlementHead
                while k < s.settlement.count && s.settlement[k].first < s.settled {
                    let c = s.settlement[k]
                    if c.end > from && c.end > c.first && c.failure == nil { s.settlement[k].failure = failure }
                    k += 1
                }
            } else if count > 0 {
                s.counters.committed += count - duplicates
                s.counters.duplicates += duplicates
                s.counters.commits += 1
            }
            while s.settlementHead < s.settlement.count && s.settlement[s.settlementHead].end <= s.settled {
                settledCallbacks.append(s.settlement[s.settlementHead])
                s.settlementHead += 1
            }
            if s.settlementHead > 1024 && s.settlementHead * 2 > s.settlement.count {
                s.settlement.removeFirst(s.settlementHead)
                s.settlementHead = 0
            } else if s.settlementHead == s.settlement.count {
                s.settlement.removeAll(keepingCapacity: true)
                s.settlementHead = 0
            }
            return failure == nil ? Array(s.observers.values) : []
        }
        progress.broadcast()
        for c in settledCallbacks { c.callback(c.failure.map { .failure($0) } ?? .success(())) }
        if !observers.isEmpty {
            for (i, var e) in batch.enumerated() {
                e.seq = first + UInt64(i)
                for o in observers { o.yield(e) }
            }
        }
        batch.removeAll(keepingCapacity: true)
    }

    private func writeProjection() {
        guard let path = options.projectionPath else { return }
        do {
            try Projector.write(log: log, to: path)
            monitor.withLock { $0.counters.projectionsWritten += 1 }
        } catch {
            options.logger.warning("perflog: could not write the projection: \(error)", metadata: ["path": "\(path)"])
            monitor.withLock { $0.counters.projectionFailures += 1 }
        }
    }

    private func syncFast() {
        do { try log.sync() } catch {
            options.logger.error("perflog: syncing the log failed: \(error)", metadata: ["log": "\(log.path)"])
            monitor.withLock { s in if s.unreportedError == nil { s.unreportedError = error } }
        }
    }
}
