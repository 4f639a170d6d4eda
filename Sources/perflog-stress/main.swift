// perflog-stress: appends synthetic events to a log and acknowledges every commit on
// standard output, one line per commit, flushed before the next commit begins.
//
// The concurrency and crash tests run it as separate processes and kill it with
// SIGKILL at arbitrary moments: a line `ack <firstSeq> <count>` means that those
// `count` events (seqs `firstSeq ..< firstSeq + count`) were committed, so the test
// knows exactly which events the log must still hold. The demo uses it for bulk data.
//
// It links only PerfLog (no Foundation) so that what it measures is the library.

import PerfLog
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

let usage = """
    usage: perflog-stress --log PATH --events N [options]

    Appends N synthetic events to the perflog log at PATH (creating it when missing),
    B events per commit, and after each commit prints `ack <firstSeq> <count>` on
    standard output (flushed), followed by the events' invocation ids with --ack-ids.
    Ends with `done <events> <lastSeq>`.

    options:
      --log PATH           the log directory (required)
      --events N           how many events to append (required, N >= 0)
      --streams S          spread the events over S streams, round-robin (default 1)
      --agent-prefix P     agents are named P-0, P-1, … (default "stress")
      --cli C [C …]        CLI names, cycled through per stream; may be repeated
                           (default "claude")
      --batch B            events per commit (default 1)
      --marks              record each invocation as a mark followed by its measure
                           (both count towards N; the pair may straddle commits)
      --retain R           ring size when the log is created (default 100)
      --map-size BYTES     initial map size when opening (default 64 MiB; grows)
      --durability D       durable | default | fast (default "default")
      --seed X             seed for durations, outcomes and invocation ids
                           (default: random)
      --ack-ids            append the invocation ids of each commit to its ack line
      --hold-read          open the log, begin a read transaction, print `holding`
                           and wait until killed (a reader that dies mid-read)
      --hold-write         open the log, begin a write transaction (taking the log's
                           write lock), print `holding <pid>` and wait until killed
                           or sent SIGTERM, which commits nothing and exits 0 (a
                           writer that stops while it holds the log)
      --recorder           record through a Recorder (group commit) instead of one
                           append per batch; after every B events, flush and print
                           `flushed <events so far>` (with --ack-ids, the ids of
                           the events recorded since the last line)
      -h, --help           print this message

    Stream i is agent P-(i / number of CLIs) with CLI number (i mod number of CLIs).
    Durations are synthetic (nothing is run): each stream has its own typical duration
    and about 5% of measures fail with exit code 1.

    exit status: 0 done, 64 usage, 65 bad value, 74 the log failed
    """

/// Writes all of `text` to a file descriptor, unbuffered, so that a line is out of the
/// process before the next commit begins (a SIGKILL cannot lose it in a buffer).
func emit(_ text: String, to fd: Int32) {
    var text = text
    // A failure means the reader went away; nothing sensible is left to do with the line.
    _ = text.withUTF8 { POSIXIO.writeAll(fd, UnsafeRawBufferPointer($0)) }
}

func fail(_ message: String, status: Int32) -> Never {
    emit("perflog-stress: \(message)\n", to: 2)
    if status == 64 { emit("run `perflog-stress --help` for usage\n", to: 2) }
    exit(status)
}

struct Arguments {
    var log: String?
    var events: Int?
    var streams = 1
    var agentPrefix = "stress"
    var clis: [String] = []
    var batch = 1
    var marks = false
    var retain = EventLog.defaultRetain
    var mapSize: Int?
    var durability = EventLog.Durability.default
    var seed: UInt64?
    var ackIDs = false
    var recorder = false
    var holdRead = false
    var holdWrite = false

    static func parse(_ args: [String]) -> Arguments {
        var a = Arguments()
        var i = 0
        func value(_ flag: String) -> String {
            i += 1
            guard i < args.count, !args[i].hasPrefix("--") else { fail("\(flag) needs a value", status: 64) }
            return args[i]
        }
        func integer(_ flag: String, min: Int) -> Int {
            let text = value(flag)
            guard let n = Int(text), n >= min else { fail("\(flag): expected an integer >= \(min), got \"\(text)\"", status: 64) }
            return n
        }
        while i < args.count {
            let arg = args[i]
            switch arg {
            case "-h", "--help":
                emit(usage + "\n", to: 1)
                exit(0)
            case "--log": a.log = value(arg)
            case "--events": a.events = integer(arg, min: 0)
            case "--streams": a.streams = integer(arg, min: 1)
            case "--agent-prefix": a.agentPrefix = value(arg)
            case "--cli":
                a.clis.append(value(arg))
                // `--cli a b c` takes every following word up to the next flag.
                while i + 1 < args.count, !args[i + 1].hasPrefix("-") {
                    i += 1
                    a.clis.append(args[i])
                }
            case "--batch": a.batch = integer(arg, min: 1)
            case "--marks": a.marks = true
            case "--retain": a.retain = integer(arg, min: 1)
            case "--map-size": a.mapSize = integer(arg, min: 1)
            case "--durability":
                let text = value(arg)
                guard let d = EventLog.Durability(rawValue: text) else {
                    fail("--durability: expected durable, default or fast, got \"\(text)\"", status: 64)
                }
                a.durability = d
            case "--seed":
                let text = value(arg)
                guard let s = UInt64(text) else { fail("--seed: expected an unsigned integer, got \"\(text)\"", status: 64) }
                a.seed = s
            case "--ack-ids": a.ackIDs = true
            case "--recorder": a.recorder = true
            case "--hold-read": a.holdRead = true
            case "--hold-write": a.holdWrite = true
            default: fail("unknown argument \"\(arg)\"", status: 64)
            }
            i += 1
        }
        if a.log == nil { fail("--log PATH is required", status: 64) }
        if a.events == nil { fail("--events N is required", status: 64) }
        if a.clis.isEmpty { a.clis = ["claude"] }
        return a
    }
}

func wallClockNs() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
}

let args = Arguments.parse(Array(CommandLine.arguments.dropFirst()))
guard let path = args.log, let total = args.events else { fail("internal: arguments not parsed", status: 70) }

let streams: [StreamName]
do {
    streams = try (0..<args.streams).map { i in
        try StreamName(agent: "\(args.agentPrefix)-\(i / args.clis.count)", cli: args.clis[i % args.clis.count])
    }
} catch {
    fail("\(error)", status: 65)
}

var options = EventLog.Options()
options.retain = args.retain
options.durability = args.durability
if let mapSize = args.mapSize { options.mapSize = mapSize }

let log: EventLog
do {
    log = try EventLog(path: path, options: options)
} catch {
    fail("\(error)", status: 74)
}

var rng = SplitMix64(seed: args.seed ?? UInt64.random(in: .min ... .max))

/// Produces the run's events in order: a measure per invocation, or a mark followed by
/// its measure with `--marks`. Invocations go round-robin over the streams. Durations
/// are synthetic (nothing runs): each stream has its own typical duration, from a third
/// of a second to about ten seconds, and each invocation takes 0.5 to 1.5 times it.
struct Generator {
    let pid: Int32
    var invocation = 0
    var pendingMeasure: (stream: StreamName, id: InvocationID, durationNs: UInt64)?

    mutating func next(streams: [StreamName], marks: Bool, rng: inout SplitMix64) -> Event {
        let now = wallClockNs()
        if let pending = pendingMeasure {
            pendingMeasure = nil
            return measure(pending.stream, pending.id, durationNs: pending.durationNs, rng: &rng, now: now)
        }
        let index = invocation % streams.count
        invocation += 1
        let id = InvocationID(rawValue: rng.next())
        let typicalNs = 333_000_000 * UInt64(1 + (index * 7) % 30)
        let durationNs = typicalNs / 2 + rng.next() % typicalNs
        if marks {
            pendingMeasure = (streams[index], id, durationNs)
            return .mark(streams[index], invocation: id, wallTimeNs: now, pid: pid)
        }
        return measure(streams[index], id, durationNs: durationNs, rng: &rng, now: now)
    }

    func measure(_ stream: StreamName, _ id: InvocationID, durationNs: UInt64, rng: inout SplitMix64, now: Int64) -> Event {
        let failed = rng.next() % 20 == 0
        return .measure(stream, invocation: id, durationNs: durationNs, outcome: failed ? .failed : .ok,
                        exitCode: failed ? 1 : 0, wallTimeNs: now, pid: pid)
    }
}

var generator = Generator(pid: getpid())
if args.holdRead {
    _ = try? log.read { _ in
        emit("holding\n", to: 1)
        while true { pause() }
    }
    exit(74)
}
if args.holdWrite {
    // SIGTERM ends the wait; the transaction is then abandoned, so nothing is written.
    var set = sigset_t()
    sigemptyset(&set)
    sigaddset(&set, SIGTERM)
    pthread_sigmask(SIG_BLOCK, &set, nil)
    struct Abandoned: Error {}
    do {
        try log.write { _ in
            emit("holding \(getpid())\n", to: 1)
            var signal: Int32 = 0
            sigwait(&set, &signal)
            throw Abandoned()
        }
    } catch is Abandoned {
        exit(0)
    } catch {
        fail("\(error)", status: 74)
    }
    exit(0)
}
if args.recorder {
    // A program that links PerfLog: events go through the recorder's buffer and group
    // commit; a line is printed only after flush() returned, so every event it counts
    // is committed.
    let recorder = Recorder(log: log)
    var recorded = 0
    var line = ""
    while recorded < total {
        let event = generator.next(streams: streams, marks: args.marks, rng: &rng)
        recorder.record(event)
        recorded += 1
        if args.ackIDs { line += " \(event.invocation)" }
        if recorded % args.batch == 0 || recorded == total {
            do { try recorder.flush() } catch { fail("after \(recorded) events: \(error)", status: 74) }
            emit("flushed \(recorded)\(line)\n", to: 1)
            line = ""
        }
    }
    do { try recorder.close() } catch { fail("closing: \(error)", status: 74) }
    emit("done \(recorded) \((try? log.read { try $0.lastSeq() }) ?? 0)\n", to: 1)
    exit(0)
}
var written = 0
var lastSeq: UInt64 = 0
var batch: [Event] = []
batch.reserveCapacity(min(args.batch, total))
while written < total {
    batch.removeAll(keepingCapacity: true)
    for _ in 0..<min(args.batch, total - written) {
        batch.append(generator.next(streams: streams, marks: args.marks, rng: &rng))
    }
    let first: UInt64
    do {
        first = try log.append(batch)
    } catch {
        fail("after \(written) events: \(error)", status: 74)
    }
    written += batch.count
    lastSeq = first + UInt64(batch.count) - 1
    var line = "ack \(first) \(batch.count)"
    if args.ackIDs {
        for e in batch { line += " \(e.invocation)" }
    }
    emit(line + "\n", to: 1)
}
emit("done \(written) \(lastSeq)\n", to: 1)
