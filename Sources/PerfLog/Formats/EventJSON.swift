extension Event {
    /// The event as one compact NDJSON line (without the trailing newline), in the
    /// shape `tail --json`, `export --format ndjson` and `import` share:
    ///
    /// ```
    /// {"seq":1042,"time":"2026-01-19T20:50:24.123456Z","kind":"measure","agent":"planner",
    ///  "cli":"claude","invocation":"6f1c2a9e0b3d4471","durationMs":812.413,"outcome":"failed",
    ///  "exitCode":1,"pid":4242,"meta":{"model":"opus"}}
    /// ```
    ///
    /// Keys come in that order, with `signal` (the number of the signal that ended a
    /// failed measure, such as `"signal":9`) after `exitCode`. `durationMs`
    /// (milliseconds rounded to the microsecond) and `outcome` appear on measures only;
    /// `exitCode` and `signal` only when the event has one;
    /// `meta` only when it is not empty, its keys in sorted order. `time` is the
    /// wall-clock time in UTC with microseconds.
    public var jsonLine: String {
        var out = JSONBuffer(capacity: 192 + stream.agent.utf8.count + stream.cli.utf8.count)
        write(to: &out)
        return out.text
    }

    /// Appends ``jsonLine`` to `out`.
    func write(to out: inout JSONBuffer) {
        out.raw("{\"seq\":")
        out.uint(seq)
        out.raw(",\"time\":")
        out.timestamp(wallTimeNs, precision: .microseconds)
        out.raw(",\"kind\":\"")
        out.raw(kind.rawValue)
        out.raw("\",\"agent\":")
        out.quoted(stream.agent)
        out.raw(",\"cli\":")
        out.quoted(stream.cli)
        out.raw(",\"invocation\":\"")
        out.raw(invocation.description)
        out.raw("\"")
        if kind == .measure {
            out.raw(",\"durationMs\":")
            out.milliseconds(nanoseconds: durationNs)
            out.raw(",\"outcome\":\"")
            out.raw(outcome.rawValue)
            out.raw("\"")
        }
        if let exitCode {
            out.raw(",\"exitCode\":")
            out.int(Int64(exitCode))
        }
        if let signal {
            out.raw(",\"signal\":")
            out.int(Int64(signal))
        }
        out.raw(",\"pid\":")
        out.int(Int64(pid))
        if !meta.isEmpty {
            out.raw(",\"meta\":")
            meta.write(to: &out)
        }
        out.raw("}")
    }
}

extension Metadata {
    /// Appends the pairs as one compact JSON object, keys in order.
    func write(to out: inout JSONBuffer) {
        out.raw("{")
        var first = true
        for (key, value) in self {
            if !first { out.raw(",") }
            first = false
            out.quoted(key)
            out.raw(":")
            out.quoted(value)
        }
        out.raw("}")
    }
}

extension LogInfo {
    /// The facts as one compact JSON object (no trailing newline), as
    /// `perflog info --json` prints it, keys in this order: `path`, `schemaVersion`,
    /// `retain`, `streams`, `events` (retained measures), `inFlight`, `fileBytes`,
    /// `mapBytes` (both in bytes), `lmdbVersion`.
    public var json: String {
        var out = JSONBuffer(capacity: 256 + path.utf8.count)
        out.raw("{\"path\":")
        out.quoted(path)
        out.raw(",\"schemaVersion\":")
        out.int(Int64(schemaVersion))
        out.raw(",\"retain\":")
        out.int(Int64(retain))
        out.raw(",\"streams\":")
        out.int(Int64(streams))
        out.raw(",\"events\":")
        out.int(Int64(events))
        out.raw(",\"inFlight\":")
        out.int(Int64(inFlight))
        out.raw(",\"fileBytes\":")
        out.int(Int64(fileBytes))
        out.raw(",\"mapBytes\":")
        out.int(Int64(mapBytes))
        out.raw(",\"lmdbVersion\":")
        out.quoted(lmdbVersion)
        // Beyond the contract's fields, so that readers of those are unaffected.
        out.raw(",\"abandoned\":")
        out.int(Int64(abandoned))
        out.raw(",\"total\":")
        out.uint(total)
        out.raw(",\"totalFailures\":")
        out.uint(totalFailures)
        out.raw("}")
        return out.text
    }
}
