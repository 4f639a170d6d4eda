import ArgumentParser
import LMDB
import PerfLog

extension Perflog {
    /// `perflog check`: verifies every invariant of the log, and repairs derived data.
    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify every invariant of the log; --repair rebuilds what is derived.",
            discussion: """
                Checks that every stored value decodes; that each stream's ring holds exactly \
                its newest measures (at most retain) in commit order; that the timeline holds \
                exactly the retained measures and the open marks; that each summary (count, \
                failures, total, in flight) matches its ring; and that the indexes match.

                Without --repair the log is opened read-only and never changed. With \
                --repair, everything derived from the rings and the stored events is rebuilt \
                in one commit, values that do not decode are dropped, and marks in flight for \
                longer than --abandon-after (an invocation that crashed or was killed) are \
                expired; the log is then checked again.

                A log found damaged (its pages, or a read that failed or faulted) is noted in \
                perflog.damaged in its directory; writers, serve, compact and --repair refuse \
                it while the note stands. A check that reads the whole log without damage \
                removes the note. To get the events out of a damaged log, use `perflog \
                recover --out DIR`.

                Exit status: 0 the log is sound (after repair, with --repair); 1 problems \
                were found (listed, one a line); 66 there is no log; 74 the log cannot be \
                read (damaged), or --repair refused a log found damaged.

                Examples:
                  perflog check
                  perflog check --repair
                  perflog check --json | jq .problems
                """)

        @Flag(help: "Rebuild derived data, drop what does not decode, expire abandoned marks.")
        var repair = false

        @Option(help: ArgumentHelp("With --repair: marks older than this are abandoned (a number and a unit, ns, us, ms, s, m or h, or several: 1h30m).", valueName: "duration"))
        var abandonAfter: String = "1h"

        @Flag(help: "Print one JSON object: path, ok, problems, what --repair changed, and the pages walked.")
        var json = false

        @OptionGroup var log: LogOptions

        func run() throws {
            let abandonNs = Int64(clamping: try DurationParser.nanoseconds(abandonAfter, field: "--abandon-after", bareUnit: nil))
            let path = try log.path()
            let eventLog: EventLog, pages: PageWalk?
            switch open() {
            case .success(let opened):
                (eventLog, pages) = opened
            case .failure(let failure) where failure.status == .ioError && !repair && !failure.isForeign:
                // A log that cannot even be opened is a problem check reports, not a crash.
                report(path: path, problems: [Problem(location: "data.mdb", message: failure.message)], repaired: nil, pages: nil)
                throw ExitCode(1)
            case .failure(let failure):
                throw failure
            }
            let problems: [Problem]
            var repaired: RepairReport?
            do {
                if repair { repaired = try eventLog.repair(expiringMarksOlderThan: EventClock.wallNs() - abandonNs) }
                problems = try eventLog.read { try $0.verify() }
            } catch {
                throw CLIFailure.from(error)
            }
            // The file read through without damage: a marker left by an earlier reader
            // (a false alarm, or damage since repaired by a restore) is cleared, so that
            // writers and --repair accept the log again.
            if !repair && DamageMarker.remove(at: path) {
                Terminal.status("perflog: the log reads sound; the note that it was damaged is removed")
            }
            report(path: eventLog.path, problems: problems, repaired: repaired, pages: pages)
            if !problems.isEmpty { throw ExitCode(1) }
        }

        private func open() -> Result<(EventLog, PageWalk?), CLIFailure> {
            Result { () throws(CLIFailure) -> (EventLog, PageWalk?) in
                // Damage below the log's own structure is beyond repair, and nothing may
                // follow it: walk every page in use before opening (damage found is noted).
                let pages = try CLIFailure.refuseDamagedPages(at: try log.path())
                return (repair ? try log.openForWriting(creating: false) : try log.openForReading(), pages)
            }
        }

        /// What a repair changed, in words: only what it did, damage first; the routine
        /// work (expiring abandoned marks, collecting evicted measures) said as such.
        static func changes(_ r: RepairReport) -> String {
            func count(_ n: Int, _ one: String, _ many: String) -> String? { n == 0 ? nil : "\(n) \(n == 1 ? one : many)" }
            let damage = [
                count(r.undecodableRemoved, "undecodable value dropped", "undecodable values dropped"),
                count(r.missingMeasures, "missing measure dropped from its ring", "missing measures dropped from rings"),
                count(r.streamsRebuilt, "stream's record rebuilt", "streams' records rebuilt"),
                count(r.indexEntriesFixed, "index entry fixed", "index entries fixed"),
                count(r.countersRestarted, "stream's lifetime counters restarted", "streams' lifetime counters restarted"),
            ].compactMap { $0 }
            let routine = [
                count(r.marksExpired, "abandoned mark expired (an invocation that never ended)", "abandoned marks expired (invocations that never ended)"),
                count(r.garbageCollected, "evicted measure collected", "evicted measures collected"),
            ].compactMap { $0 }
            var parts = damage
            if !routine.isEmpty { parts.append((damage.isEmpty ? "routine upkeep only: " : "and routine upkeep: ") + routine.joined(separator: ", ")) }
            return parts.joined(separator: "; ")
        }

        private func report(path: String, problems: [Problem], repaired: RepairReport?, pages: PageWalk?) {
            if json {
                var out = "{\"path\":" + JSONBuffer.quoted(path) + ",\"ok\":" + (problems.isEmpty ? "true" : "false") + ",\"problems\":["
                out += problems.map { "{\"location\":\(JSONBuffer.quoted($0.location)),\"message\":\(JSONBuffer.quoted($0.message))}" }
                    .joined(separator: ",")
                out += "]"
                if let r = repaired {
                    out += ",\"repaired\":{\"streamsRebuilt\":\(r.streamsRebuilt),\"undecodableRemoved\":\(r.undecodableRemoved),"
                    out += "\"missingMeasures\":\(r.missingMeasures),\"garbageCollected\":\(r.garbageCollected),"
                    out += "\"marksExpired\":\(r.marksExpired),\"indexEntriesFixed\":\(r.indexEntriesFixed),\"countersRestarted\":\(r.countersRestarted)}"
                }
                if let pages {
                    out += ",\"pages\":{\"pageSize\":\(pages.pageSize),\"lastPage\":\(pages.lastPage),\"inUse\":\(pages.reachedPages),"
                    out += "\"free\":\(pages.freePages),\"databases\":{"
                    out += pages.trees.map { t in
                        "\(JSONBuffer.quoted(t.name)):{\"depth\":\(t.depth),\"branch\":\(t.branchPages),\"leaf\":\(t.leafPages),"
                            + "\"overflow\":\(t.overflowPages),\"entries\":\(t.entries)}"
                    }.joined(separator: ",")
                    out += "}}"
                }
                Terminal.out(out + "}\n")
                return
            }
            var out = ""
            if let r = repaired {
                out += r.changedAnything ? "repaired: " + Self.changes(r) + "\n" : "repaired: nothing needed changing\n"
            }
            if let pages {
                // What the page walk read: every page in use, none of the free ones.
                let kinds = pages.trees.reduce(into: (branch: 0, leaf: 0, overflow: 0)) {
                    $0.branch += $1.branchPages
                    $0.leaf += $1.leafPages
                    $0.overflow += $1.overflowPages
                }
                out += "pages: \(pages.reachedPages) in use (\(kinds.branch) branch, \(kinds.leaf) leaf, \(kinds.overflow) overflow; "
                    + "\(pages.pageSize) bytes each), all read; \(pages.freePages) free\n"
            }
            if problems.isEmpty {
                out += "\(path): ok\n"
            } else {
                out += "\(path): \(problems.count) problem\(problems.count == 1 ? "" : "s")\n"
                for p in problems { out += "  \(Terminal.oneLine(p.description))\n" }
                if repaired == nil { out += "run `perflog check --repair\(CLIFailure.logArgument)` to rebuild what is derived from the rings\n" }
            }
            Terminal.out(out)
        }
    }
}
