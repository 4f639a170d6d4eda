import ArgumentParser
import PerfLog
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension Perflog {
    /// `perflog recover --out DIR`: copies every readable event of a (damaged) log into
    /// a new log.
    struct Recover: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy every readable event of a damaged log into a new log at --out DIR.",
            discussion: """
                For a log that `perflog check` (or any command) reports damaged. The log \
                is only read, never changed; the new log at DIR (which must not exist, or \
                be an empty directory) gets the same ring size and every event that could \
                be read, appended in the original commit order, so its rings, summaries \
                and marks in flight are rebuilt as they were. New seq numbers are \
                assigned; event times keep their nanoseconds.

                Damage can crash whatever reads it, so the reading is done by child perflog \
                processes, each reading part of the timeline and streaming it back. When \
                one fails (or sends nothing for 10 s, and is stopped), the part it could \
                not read is narrowed down by bisection to the seq numbers that cannot be \
                read. Events whose record does not decode \
                are skipped one by one.

                What was lost is printed: the ranges of seq numbers that could not be \
                read (how many events they held is not known: seq numbers of evicted \
                measures are gaps), and the events that did not decode. --json prints one \
                object: source, out, retain, recovered, marks, measures, complete, \
                lostRanges [{from, through}], undecodable [{seq, reason}], readers (child \
                processes run).

                Afterwards, check the new log and put it in place of the damaged one:
                  perflog check --log DIR
                  mv LOG LOG.damaged && mv DIR LOG

                Exit status: 0 every event was recovered; 1 some were lost (listed); 64 \
                --out is missing; 66 there is no log; 73 DIR exists and is not empty, or \
                cannot be created; 74 the log cannot be opened at all (nothing to recover).

                Examples:
                  perflog recover --out /tmp/perflog-recovered
                  perflog recover --log .planning/metrics/perflog --out recovered --json
                """)

        @Option(help: ArgumentHelp("The directory of the new log (must not exist, or be empty).", valueName: "dir"), completion: .directory)
        var out: String?

        @Flag(help: "Print one JSON object: what was recovered and what was lost.")
        var json = false

        @OptionGroup var log: LogOptions

        // The reader child's side (not for people: `perflog recover` runs it).
        @Option(name: .customLong("read-from"), help: .hidden)
        var readFrom: UInt64?

        @Option(name: .customLong("read-limit"), help: .hidden)
        var readLimit: Int = .max

        @Flag(name: .customLong("read-header"), help: .hidden)
        var readHeader = false

        func validate() throws {
            if readFrom == nil && !readHeader && out == nil { throw ValidationError("missing --out DIR: where to write the new log") }
            if let out, out.isEmpty { throw ValidationError("--out must not be empty") }
            if readLimit < 1 { throw ValidationError("--read-limit must be at least 1") }
        }

        func run() throws {
            if readHeader || readFrom != nil {
                try RecoverReader(log: log, header: readHeader, from: readFrom ?? 1, limit: readLimit).run()
                return
            }
            guard let out else { return }
            let source = try log.path()
            guard EventLog.hasDataFile(in: source) else { throw CLIFailure(.noInput, "no log at \(source)") }
            try Self.refuseNonEmpty(out)
            let salvage = Salvage(source: source)
            let header = salvage.header()
            guard let retain = header.retain else {
                throw CLIFailure(.ioError, "the log at \(source) is damaged beyond reading: \(header.failure ?? "its databases cannot be opened"); nothing was recovered")
            }
            var options = EventLog.Options()
            options.retain = retain
            let target: EventLog
            do { target = try EventLog(path: out, options: options) } catch { throw CLIFailure(error) }
            let result = try salvage.copy(into: target, lastSeq: header.lastSeq)
            do { try target.sync() } catch { throw CLIFailure(error) }
            report(source: source, out: out, retain: retain, result)
            if !result.complete { throw ExitCode(ExitStatus.problems.rawValue) }
        }

        /// `--out` must be new or an empty directory: recovering into a log that holds
        /// events would mix them.
        private static func refuseNonEmpty(_ path: String) throws(CLIFailure) {
            var st = stat()
            guard stat(path, &st) == 0 else { return }
            guard (st.st_mode & S_IFMT) == S_IFDIR else { throw CLIFailure(.cannotCreate, "\(path) exists and is not a directory; name a new directory") }
            guard let dir = opendir(path) else { throw CLIFailure(.cannotCreate, "\(path) cannot be read") }
            defer { closedir(dir) }
            while let entry = readdir(dir) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
                if name != "." && name != ".." {
                    throw CLIFailure(.cannotCreate, "\(path) is not empty; recover into a new directory")
                }
            }
        }

        private func report(source: String, out: String, retain: Int, _ r: Salvage.Result) {
            if json {
                var text = "{\"source\":\(JSONBuffer.quoted(source)),\"out\":\(JSONBuffer.quoted(out)),\"retain\":\(retain),"
                text += "\"recovered\":\(r.marks + r.measures),\"marks\":\(r.marks),\"measures\":\(r.measures),\"complete\":\(r.complete),"
                text += "\"lostRanges\":[" + r.lostRanges.map { "{\"from\":\($0.from),\"through\":\($0.through)}" }.joined(separator: ",") + "],"
                text += "\"undecodable\":[" + r.undecodable.map { "{\"seq\":\($0.seq),\"reason\":\(JSONBuffer.quoted($0.reason))}" }.joined(separator: ",") + "],"
                text += "\"readers\":\(r.readers)}\n"
                Terminal.out(text)
                return
            }
            var text = "recovered \(r.marks + r.measures) events (\(r.measures) measures, \(r.marks) marks) of \(source) into \(out)\n"
            if r.complete { text += "nothing was lost\n" }
            for range in r.lostRanges {
                text += range.from == range.through
                    ? "lost: the event with seq \(range.from), if there was one (it could not be read)\n"
                    : "lost: events with seq \(range.from)–\(range.through) (they could not be read)\n"
            }
            for u in r.undecodable.prefix(20) { text += "lost: event \(u.seq) did not decode: \(Terminal.oneLine(u.reason))\n" }
            if r.undecodable.count > 20 { text += "lost: \(r.undecodable.count - 20) more events that did not decode\n" }
            if !r.complete { text += "check the new log with `perflog check --log \(out)`\n" }
            Terminal.out(text)
        }
    }
}

/// The child's side of `perflog recover`: reads part of the timeline of a log that may
/// be damaged and writes it to standard output, one line an event, as soon as each is
/// read, so that what came before a fatal fault has reached the parent:
///
///     e<TAB>seq<TAB>wallTimeNs<TAB><the event's NDJSON line>
///     x<TAB>seq<TAB>why it did not decode
///     end                                  (the range was read to its end or limit)
///
/// With `header`, it writes `retain R` and `last S` (the last committed seq, when it can
/// be read) instead of events.
struct RecoverReader {
    var log: LogOptions
    var header: Bool
    var from: UInt64
    var limit: Int

    func run() throws {
        var options = EventLog.Options()
        options.create = false
        options.readOnly = true
        options.checksPages = false
        let eventLog: EventLog
        let path = try log.path()
        do { eventLog = try EventLog(path: path, options: options) } catch { throw CLIFailure(error) }
        if header {
            Terminal.out("retain \(eventLog.retain)\n")
            if let last = try? eventLog.read({ try $0.lastSeq() }) { Terminal.out("last \(last)\n") }
            Terminal.out("end\n")
            return
        }
        do {
            try eventLog.read { r in
                try r.salvage(from: from, limit: limit) { item in
                    switch item {
                    case .event(let e): Terminal.out("e\t\(e.seq)\t\(e.wallTimeNs)\t\(e.jsonLine)\n")
                    case .undecodable(let seq, let reason): Terminal.out("x\t\(seq)\t\(Terminal.oneLine(reason))\n")
                    }
                }
            }
        } catch {
            throw CLIFailure.from(error)
        }
        Terminal.out("end\n")
    }
}

/// The parent's side of `perflog recover`: runs reader children over the timeline,
/// bisects around what they cannot read, and appends what they send to the new log.
struct Salvage {
    let source: String

    /// What the copy got and lost.
    struct Result {
        var marks = 0
        var measures = 0
        var lostRanges: [(from: UInt64, through: UInt64)] = []
        var undecodable: [(seq: UInt64, reason: String)] = []
        var readers = 0
        var complete: Bool { lostRanges.isEmpty && undecodable.isEmpty }
    }

    /// The source's ring size and last seq, as a child could read them.
    func header() -> (retain: Int?, lastSeq: UInt64?, failure: String?) {
        var retain: Int?, last: UInt64?
        var stderrText = ""
        _ = runReader(["--read-header"], stderr: &stderrText) { line in
            if line.hasPrefix("retain ") { retain = Int(line.dropFirst(7)) }
            if line.hasPrefix("last ") { last = UInt64(line.dropFirst(5)) }
        }
        return (retain, last, stderrText.isEmpty ? nil : stderrText)
    }

    /// Copies the timeline into `target`.
    /// - Throws: ``CLIFailure`` when `target` cannot be written.
    func copy(into target: EventLog, lastSeq: UInt64?) throws(CLIFailure) -> Result {
        var result = Result()
        // Without a readable seq counter, probing runs up to any seq a log could reach.
        let upper = lastSeq ?? (UInt64.max >> 2)
        var pending: [Event] = []
        var failure: CLIFailure?
        func flush() {
            guard !pending.isEmpty, failure == nil else { return }
            do { try target.append(pending) } catch { failure = CLIFailure(error) }
            pending.removeAll(keepingCapacity: true)
        }
        var position: UInt64 = 1
        var retried: UInt64?
        while position <= upper {
            var lastSeen: UInt64?
            var ignored = ""
            let clean = runReader(["--read-from", "\(position)"], stderr: &ignored) { line in
                // Only ever forward: a reader that strays behind its start adds nothing.
                if let (seq, item) = Salvage.parse(line), seq >= position, lastSeen.map({ seq > $0 }) ?? true {
                    lastSeen = seq
                    switch item {
                    case .event(let e):
                        if e.kind == .mark { result.marks += 1 } else { result.measures += 1 }
                        pending.append(e)
                        if pending.count >= 1000 { flush() }
                    case .undecodable(_, let reason):
                        result.undecodable.append((seq, reason))
                    }
                }
            }
            result.readers += 1
            flush()
            if let failure { throw failure }
            if clean { break }
            if let lastSeen {
                // It failed after lastSeen: the next reader starts just after.
                guard lastSeen < upper else { break }
                position = lastSeen + 1
                continue
            }
            // A reader that got nothing may have been stopped rather than have failed
            // (killed when silent): one more try at the same place tells them apart.
            if retried != position {
                retried = position
                result.readers += 1
                if starts(at: position) { continue }
            }
            // Nothing can be read starting at `position`: find the first seq after it
            // from which a reader gets going, doubling the step, then bisecting.
            var failing = position
            var step: UInt64 = 1
            var working: UInt64?
            while failing < upper {
                let candidate = position + min(step, upper - position)
                result.readers += 1
                if starts(at: candidate) { working = candidate; break }
                failing = candidate
                step = step > UInt64.max / 4 ? UInt64.max / 2 : step * 2
            }
            guard var good = working else {
                result.lostRanges.append((position, upper))
                break
            }
            while good - failing > 1 {
                let middle = failing + (good - failing) / 2
                result.readers += 1
                if starts(at: middle) { good = middle } else { failing = middle }
            }
            result.lostRanges.append((position, good - 1))
            position = good
        }
        return result
    }

    /// Whether a reader starting at `seq` reads one event, or finds the end, without
    /// failing.
    private func starts(at seq: UInt64) -> Bool {
        var ignored = ""
        return runReader(["--read-from", "\(seq)", "--read-limit", "1"], stderr: &ignored) { _ in }
    }

    /// One line of a reader: the seq it is about and what it holds.
    private static func parse(_ line: Substring) -> (UInt64, SalvagedEvent)? {
        let fields = line.split(separator: "\t", maxSplits: 3, omittingEmptySubsequences: false)
        guard fields.count >= 3, let seq = UInt64(fields[1]) else { return nil }
        if fields[0] == "x" { return (seq, .undecodable(seq: seq, reason: String(fields[2]))) }
        guard fields[0] == "e", fields.count == 4, let wallNs = Int64(fields[2]) else { return nil }
        do {
            let parsed = try ImportedEvents(parsing: Array(fields[3].utf8))
            guard var event = parsed.events.first, parsed.events.count == 1 else {
                return (seq, .undecodable(seq: seq, reason: "it did not survive the copy"))
            }
            event.wallTimeNs = wallNs
            return (seq, .event(event))
        } catch {
            return (seq, .undecodable(seq: seq, reason: error.description))
        }
    }

    /// Runs `perflog recover --log SOURCE arguments…` with its standard output on a pipe,
    /// handing `body` each complete line as it arrives.
    /// - Returns: whether the reader ended cleanly (wrote `end` and exited 0); a reader
    ///   that died of a signal, failed, or sent nothing for ``silenceLimitMs`` (it is
    ///   killed) returns `false`, with its standard error (the
    ///   first line, without the `perflog: ` prefix) in `stderr`.
    private func runReader(_ arguments: [String], stderr: inout String, _ body: (Substring) -> Void) -> Bool {
        var out: [Int32] = [-1, -1], err: [Int32] = [-1, -1]
        guard pipe(&out) == 0 else { return false }
        guard pipe(&err) == 0 else { close(out[0]); close(out[1]); return false }
        let started = Spawn.start(
            path: Salvage.executable, arguments: ["perflog", "recover", "--log", source] + arguments,
            standardOutput: out[1], standardError: err[1])
        close(out[1])
        close(err[1])
        defer { close(out[0]); close(err[0]) }
        guard case .success(let pid) = started else { return false }
        var sawEnd = false
        var stalled = false
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            var ready = pollfd(fd: out[0], events: Int16(POLLIN), revents: 0)
            let polled = POSIXIO.retryingInterrupts { poll(&ready, 1, Salvage.silenceLimitMs) }
            if polled == 0 {
                // Stuck, not slow: a healthy reader sends a line an event.
                kill(pid, SIGKILL)
                stalled = true
                break
            }
            let n = chunk.withUnsafeMutableBytes { c in POSIXIO.retryingInterrupts { read(out[0], c.baseAddress, c.count) } }
            if n <= 0 { break }
            buffer.append(contentsOf: chunk[0..<n])
            var start = 0
            while let newline = buffer[start...].firstIndex(of: 0x0A) {
                let line = String(decoding: buffer[start..<newline], as: UTF8.self)
                if line == "end" { sawEnd = true } else { body(Substring(line)) }
                start = newline + 1
            }
            buffer.removeFirst(start)
        }
        // The reader's stderr is one line at most; it fits the pipe.
        let n = stalled ? 0 : chunk.withUnsafeMutableBytes { read(err[0], $0.baseAddress, $0.count) }
        if stalled {
            stderr = "a reader sent nothing for \(Salvage.silenceLimitMs / 1000) s and was stopped"
        } else if n > 0 {
            var text = String(decoding: chunk[0..<n], as: UTF8.self)
            if text.hasPrefix("perflog: ") { text.removeFirst(9) }
            stderr = String(text.prefix(while: { $0 != "\n" }))
        }
        let ended = Spawn.wait(pid) {}
        return sawEnd && ended == .exited(0)
    }

    /// How long a reader may send nothing before it is taken for stuck and killed, in
    /// milliseconds: damage can send LMDB round in a loop, and readers take no lock, so
    /// a healthy one never waits this long.
    static let silenceLimitMs: Int32 = 10_000

    /// This program, to run as the reader.
    static let executable: String = {
        #if os(Linux)
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        if n > 0 { return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) }
        #endif
        return CommandLine.arguments[0]
    }()
}
