import ArgumentParser
import PerfLog
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension Perflog {
    /// `perflog compact`: rewrites the log without free space, optionally with a new ring size.
    struct Compact: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Rewrite the log compactly and swap it in; --retain changes the ring size.",
            discussion: """
                Copies the log from a snapshot without its free pages, then, in the copy, \
                collects evicted measures, expires marks in flight for longer than \
                --abandon-after and changes the ring size; replays into it what was \
                recorded meanwhile, and renames it over data.mdb. Nobody waits for the \
                copy: readers never wait for a compaction, and other processes keep \
                recording; the gate is held exclusively only to apply the last commits and \
                swap the file (typically milliseconds), and each process reopens the new \
                file before its next operation, so nothing committed is lost. If writers \
                keep the log busy past --wait, nothing is changed and the exit status is \
                75: try again. One compaction (or repair) runs at a time; a copy left by a \
                killed compaction is removed at the next open.

                A log whose pages are damaged, or that a perflog process found damaged, is \
                refused (exit 74) and left untouched: use `perflog recover --out DIR`. After \
                the copy the log is checked; problems that remain are reported with exit \
                status 1.

                --retain N keeps each stream's newest N measures (dropping older ones when N \
                is smaller) and stores N as the log's ring size.

                Examples:
                  perflog compact
                  perflog compact --retain 50
                  perflog compact --json
                """)

        @Option(help: "The new ring size: measures kept per stream.")
        var retain: Int?

        @Option(help: ArgumentHelp("Marks in flight for longer than this are abandoned and expired (a number and a unit, ns, us, ms, s, m or h, or several: 1h30m).", valueName: "duration"))
        var abandonAfter: String = "1h"

        @Flag(help: "Print one JSON object: path, bytesBefore, bytesAfter, retainBefore, retainAfter, measuresTrimmed, garbageCollected, marksExpired.")
        var json = false

        @Flag(help: "Print each step on stderr (copying, repairing, catching up, swapped: how long the gate was held).")
        var verbose = false

        @OptionGroup var log: LogOptions

        func validate() throws {
            if let retain, retain < 1 || retain > EventLog.maxRetain {
                throw ValidationError("--retain must be between 1 and \(EventLog.maxRetain)")
            }
        }

        func run() throws {
            let startedNs = EventClock.monotonicNs()
            let abandonNs = Int64(clamping: try DurationParser.nanoseconds(abandonAfter, field: "--abandon-after", bareUnit: nil))
            let path = try log.path()
            guard EventLog.hasDataFile(in: path) else {
                // A directory of other files is not a log (74), a missing one no log (66).
                _ = try log.openForReading()
                throw CLIFailure(.noInput, "no log at \(path)")
            }
            // Copying a damaged file would carry its damage into the copy, or fault half way.
            try CLIFailure.refuseDamagedPages(at: path)
            let eventLog = try log.openForWriting()
            let tty = ProgressLine.isShown && !json
            if tty { ProgressLine.show("compacting \(path) (\(HumanFormat.bytes(EventLog.dataFileSize(in: path))))…") }
            let report: CompactionReport
            do {
                report = try eventLog.compact(
                    retain: retain, expiringMarksOlderThan: EventClock.wallNs() - abandonNs,
                    waitingUpTo: log.location.waitLimit, phase: { announce($0, startedNs: startedNs) })
            } catch {
                if tty { ProgressLine.show(nil) }
                throw CLIFailure.from(error)
            }
            if tty { ProgressLine.show(nil) }
            // The repair pass before the copy rebuilds what is derived; whatever it could
            // not fix is reported, not left behind an exit status of 0.
            let remaining: [Problem]
            do { remaining = try eventLog.read { try $0.verify() } } catch { throw CLIFailure.from(error) }
            if let first = remaining.first {
                throw CLIFailure(.problems, "compacted \(path), but \(remaining.count) problem\(remaining.count == 1 ? "" : "s") remain (first: \(first)); run `perflog check\(CLIFailure.logArgument)`")
            }
            if json {
                Terminal.out("{\"path\":\(JSONBuffer.quoted(path)),\"bytesBefore\":\(report.bytesBefore),\"bytesAfter\":\(report.bytesAfter),"
                    + "\"retainBefore\":\(report.retainBefore),\"retainAfter\":\(report.retainAfter),\"measuresTrimmed\":\(report.measuresTrimmed),"
                    + "\"garbageCollected\":\(report.repair.garbageCollected),\"marksExpired\":\(report.repair.marksExpired),"
                + "\"eventsCaughtUp\":\(report.eventsCaughtUp),\"exclusiveHoldNs\":\(report.exclusiveHoldNs)}\n")
                return
            }
            let saved = report.bytesBefore > 0 ? 100 * (report.bytesBefore - report.bytesAfter) / report.bytesBefore : 0
            var out = "compacted \(path): \(HumanFormat.bytes(report.bytesBefore)) → \(HumanFormat.bytes(report.bytesAfter)) (\(saved)% smaller)\n"
            if report.retainBefore != report.retainAfter {
                out += "ring size \(report.retainBefore) → \(report.retainAfter): \(report.measuresTrimmed) older measures dropped\n"
            }
            if report.repair.garbageCollected + report.repair.marksExpired > 0 {
                out += "\(report.repair.garbageCollected) evicted measures collected, \(report.repair.marksExpired) abandoned marks expired\n"
            }
            Terminal.out(out)
        }
    }
}

extension Perflog.Compact {
    /// Prints a step with --verbose, with the seconds since the command started. With `PERFLOG_COMPACT_PAUSE` set to a step's name
    /// (`copying`, `repairing`, `catching-up`), the step is printed and the compaction
    /// waits for a line on stdin before it goes on: tests stop a compaction at a known
    /// point this way, without sleeping.
    func announce(_ phase: CompactionPhase, startedNs: UInt64) {
        let name: String, detail: String
        switch phase {
        case .copying: (name, detail) = ("copying", "")
        case .repairing: (name, detail) = ("repairing", "")
        case .catchingUp(let events): (name, detail) = ("catching-up", " \(events) events")
        case .swapped(let heldNs): (name, detail) = ("swapped", " the gate was held \(HumanFormat.duration(nanoseconds: heldNs))")
        }
        let pause = getenv("PERFLOG_COMPACT_PAUSE").map { String(cString: $0) } == name
        if verbose || pause {
            let seconds = Double(EventClock.monotonicNs() &- startedNs) / 1e9
            Terminal.write("perflog: compact: \(name)\(detail) (\(HumanFormat.fixed(seconds, digits: 2)) s in)\n", to: STDERR_FILENO)
        }
        if pause {
            var byte: UInt8 = 0
            while read(STDIN_FILENO, &byte, 1) == 1 && byte != 10 {}
        }
    }
}
