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
    /// Keys come in that order. `durationMs` (milliseconds rounded to the microsecond)
    /// and `outcome` appear on measures only; `exitCode` only when the event has one;
    /// `meta` only when it is not empty, its keys in sorted order. `time` is the
    /// wall-clock time in UTC with microseconds.
    public var jsonLine: String {
        var out = ""
        out.reserveCapacity(192 + stream.agent.utf8.count + stream.cli.utf8.count)
        out.append("{\"seq\":")
        out.append(String(seq))
        out.append(",\"time\":\"")
        out.append(Timestamp.iso8601(unixNanoseconds: wallTimeNs, precision: .microseconds))
        out.append("\",\"kind\":\"")
        out.append(kind.rawValue)
        out.append("\",\"agent\":")
        JSONText.appendQuoted(stream.agent, to: &out)
        out.append(",\"cli\":")
        JSONText.appendQuoted(stream.cli, to: &out)
        out.append(",\"invocation\":\"")
        out.append(invocation.description)
        out.append("\"")
        if kind == .measure {
            out.append(",\"durationMs\":")
            out.append(JSONText.milliseconds(nanoseconds: durationNs))
            out.append(",\"outcome\":\"")
            out.append(outcome.rawValue)
            out.append("\"")
        }
        if let exitCode {
            out.append(",\"exitCode\":")
            out.append(String(exitCode))
        }
        out.append(",\"pid\":")
        out.append(String(pid))
        if !meta.isEmpty {
            out.append(",\"meta\":{")
            var first = true
            for (key, value) in meta {
                if !first { out.append(",") }
                first = false
                JSONText.appendQuoted(key, to: &out)
                out.append(":")
                JSONText.appendQuoted(value, to: &out)
            }
            out.append("}")
        }
        out.append("}")
        return out
    }
}

extension LogInfo {
    /// The facts as one compact JSON object (no trailing newline), as
    /// `perflog info --json` prints it, keys in this order: `path`, `schemaVersion`,
    /// `retain`, `streams`, `events` (retained measures), `inFlight`, `fileBytes`,
    /// `mapBytes` (both in bytes), `lmdbVersion`.
    public var json: String {
        var out = "{\"path\":"
        JSONText.appendQuoted(path, to: &out)
        out.append(",\"schemaVersion\":\(schemaVersion)")
        out.append(",\"retain\":\(retain)")
        out.append(",\"streams\":\(streams)")
        out.append(",\"events\":\(events)")
        out.append(",\"inFlight\":\(inFlight)")
        out.append(",\"fileBytes\":\(fileBytes)")
        out.append(",\"mapBytes\":\(mapBytes)")
        out.append(",\"lmdbVersion\":")
        JSONText.appendQuoted(lmdbVersion, to: &out)
        // Beyond the contract's fields, so that readers of those are unaffected.
        out.append(",\"abandoned\":\(abandoned)")
        out.append("}")
        return out
    }
}
