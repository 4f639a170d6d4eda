import ArgumentParser
import PerfLog
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension Perflog {
    /// `perflog record`: appends one measure whose duration was taken elsewhere.
    struct Record: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Record one finished invocation (a measure) with a duration you took.",
            discussion: """
                Use this when the program you measure is not started by perflog (use \
                perflog exec when it can be). The measure is stamped with the current time \
                and committed before perflog exits; the log is created when missing.

                Durations are a number and an optional unit: ns, us (or µs), ms, s, m or h \
                (also spelled out: sec, seconds, min, minutes, hours, …), or several added \
                up; a bare number is milliseconds. 812.4ms, 812.4, 1.5s, 250us, 2m, 1h30m, \
                2m 5s and "5 minutes" are all valid.

                The outcome is ok unless --failed is given, --exit-code is not 0, or \
                --signal is given: --signal N records an invocation that was ended by \
                signal N (a number from 1 to 64, or a name such as KILL or SIGTERM) and \
                so has no exit code; it excludes --exit-code. Values that break a rule \
                (empty or oversized names, negative, NaN or infinite durations, unknown \
                units, an unknown signal) exit 65 and write nothing; a command line that \
                does not parse exits 64.

                Examples:
                  perflog record --agent planner --cli claude --duration 812.4ms
                  perflog record --agent planner --cli codex --duration 2.5s --exit-code 1 --meta model=o3
                  perflog record --agent planner --cli codex --duration 10m --signal KILL
                """)

        @OptionGroup var stream: StreamOptions

        // Unconditional, so that `--duration -5ms` reaches the duration rules (exit 65)
        // instead of looking like an unknown flag.
        @Option(
            name: .customLong(OptionName.duration.rawValue), parsing: .unconditional,
            help: ArgumentHelp(
                "How long the invocation took: a number and a unit (ns, us, ms, s, m, h) or several (1h30m); a bare number is ms.",
                valueName: "duration"))
        var duration: String

        @Flag(name: .customLong(OptionName.failed.rawValue), help: "The invocation failed (the default is ok).")
        var failed = false

        @Option(
            name: .customLong(OptionName.exitCode.rawValue), parsing: .unconditional,
            help: ArgumentHelp("The invocation's exit code, 0 to 255; anything but 0 means it failed.", valueName: "code"))
        var exitCode: Int32?

        // A string, so that names are accepted and a bad value reaches the rule (exit 65).
        @Option(
            name: .customLong(OptionName.signal.rawValue), parsing: .unconditional,
            help: ArgumentHelp(
                "The signal that ended the invocation (it failed, without an exit code): 1 to 64, or a name such as KILL or SIGTERM.",
                valueName: "signal"))
        var signal: String?

        @Flag(
            name: .customLong(OptionName.json.rawValue),
            help: "Print the committed event as one NDJSON line (as tail --json does).")
        var json = false

        @OptionGroup var log: LogOptions

        func validate() throws {
            if let problem = request.contradiction { throw ValidationError(problem) }
        }

        /// The parsed values.
        var request: RecordRequest {
            RecordRequest(
                stream: stream.values, duration: duration, failed: failed, exitCode: exitCode, signal: signal,
                json: json, log: log.location)
        }

        func run() throws {
            try request.run()
        }
    }
}

/// What `perflog record` was asked to do, whichever parser read the command line.
struct RecordRequest: Equatable {
    var stream: StreamArguments
    var duration: String
    var failed = false
    var exitCode: Int32?
    /// `--signal` as typed: a number or a name, checked by ``run()``.
    var signal: String?
    var json = false
    var log = LogLocation()

    /// Why the flags cannot all hold at once, or `nil` when they can. A usage error
    /// (exit 64), found before anything runs.
    var contradiction: String? {
        if exitCode != nil && signal != nil {
            return "--signal and --exit-code exclude each other (a process ended by a signal has no exit code)"
        }
        return failed && exitCode == 0 ? "--failed and --exit-code 0 contradict each other" : nil
    }

    /// Validates every value, then appends the measure.
    /// - Throws: ``CLIFailure``: 65 for a value that breaks a rule (nothing is written),
    ///   or the status of a failure to open or write the log.
    func run() throws(CLIFailure) {
        // Every value is checked before the log is opened, so bad input never
        // creates or touches a log.
        let name = try stream.stream()
        let meta = try stream.metadata()
        let durationNs = try DurationParser.nanoseconds(duration)
        // A process's exit status is 0 to 255 (a signal death is 128+N).
        if let exitCode, !(0...255).contains(exitCode) {
            throw .invalid("exit-code", "must be from 0 to 255 (got \(exitCode))")
        }
        var signalNumber: Int32?
        if let signal {
            guard let number = SignalNames.parse(signal) else {
                throw .invalid(
                    "signal", "must be a signal number from 1 to \(Event.maxSignal) or a name such as KILL or SIGTERM (got \(signal))")
            }
            signalNumber = number
        }
        let outcome: Outcome = failed || (exitCode ?? 0) != 0 || signalNumber != nil ? .failed : .ok

        let eventLog = try log.openForWriting()
        var event = Event.measure(
            name, invocation: .random(), durationNs: durationNs, outcome: outcome, exitCode: exitCode,
            signal: signalNumber, wallTimeNs: EventClock.wallNs(), pid: getpid(), meta: meta)
        do {
            event.seq = try eventLog.append([event])
        } catch {
            throw CLIFailure(error)
        }
        if json { Terminal.out(event.jsonLine + "\n") }
    }
}
