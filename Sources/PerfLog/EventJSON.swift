// JSON text for events, log facts and timestamps, written by hand: perflog is a
// command-line tool that starts many times a minute, and Foundation's JSONEncoder and
// date formatters cost more to load than the whole command costs to run. Output is
// compact (no spaces between tokens) and keys come in a fixed order, so that two
// renderings of the same value are byte-identical.

/// Building blocks for the JSON text perflog writes.
public enum JSONText {
    /// `s` as a JSON string literal, quotes included.
    ///
    /// Escapes `"` and `\` with a backslash and every control character below U+0020 as
    /// `\u00XX` (lowercase hexadecimal); everything else, including non-ASCII, is
    /// written as raw UTF-8.
    public static func quoted(_ s: String) -> String {
        var out = ""
        appendQuoted(s, to: &out)
        return out
    }

    /// Appends `s` as a JSON string literal to `out`; see ``quoted(_:)``.
    public static func appendQuoted(_ s: String, to out: inout String) {
        out.reserveCapacity(out.utf8.count + s.utf8.count + 2)
        out.append("\"")
        // Copy runs of plain characters in one go; most names need no escaping at all.
        var runStart = s.unicodeScalars.startIndex
        var i = runStart
        let scalars = s.unicodeScalars
        while i < scalars.endIndex {
            let v = scalars[i].value
            if v < 0x20 || v == 0x22 || v == 0x5C {
                out.unicodeScalars.append(contentsOf: scalars[runStart..<i])
                switch v {
                case 0x22: out.append("\\\"")
                case 0x5C: out.append("\\\\")
                default:
                    out.append("\\u00")
                    out.append(hexDigit(v >> 4))
                    out.append(hexDigit(v & 0xF))
                }
                runStart = scalars.index(after: i)
            }
            i = scalars.index(after: i)
        }
        out.unicodeScalars.append(contentsOf: scalars[runStart..<scalars.endIndex])
        out.append("\"")
    }

    private static func hexDigit(_ v: UInt32) -> Character {
        Character(Unicode.Scalar(UInt8(v < 10 ? 0x30 + v : 0x61 + v - 10)))
    }

    /// A duration in nanoseconds as milliseconds rounded to the nearest microsecond
    /// (halves round up), written minimally as a JSON number: `812.413`, `1000`,
    /// `0.001`, `0`. Never uses an exponent.
    public static func milliseconds(nanoseconds ns: UInt64) -> String {
        let us = ns / 1000 + (ns % 1000 >= 500 ? 1 : 0)
        return decimal(us, scale: 1000)
    }

    /// `value / scale` as a minimal decimal: the integer part, then, when not zero,
    /// a point and the fraction without trailing zeros. `scale` is a power of ten.
    static func decimal(_ value: UInt64, scale: UInt64) -> String {
        let whole = value / scale
        var fraction = value % scale
        if fraction == 0 { return String(whole) }
        var digits = 0
        var s = scale
        while s > 1 { s /= 10; digits += 1 }
        while fraction % 10 == 0 { fraction /= 10; digits -= 1 }
        let f = String(fraction)
        return String(whole) + "." + String(repeating: "0", count: digits - f.count) + f
    }
}

/// ISO 8601 timestamps in UTC, as perflog writes them.
public enum Timestamp {
    /// How many fractional digits of the second to write.
    public enum Precision: Sendable {
        /// Three digits: `2026-01-19T20:50:24.123Z` (the projection's times).
        case milliseconds
        /// Six digits: `2026-01-19T20:50:24.123456Z` (event times in NDJSON).
        case microseconds
    }

    /// Formats a wall-clock time, given in nanoseconds since the Unix epoch, as ISO 8601
    /// UTC with the requested precision. The fraction is truncated, not rounded, so a
    /// time never appears to be in a later second (or day) than it is. Times before
    /// 1970 are supported.
    public static func iso8601(unixNanoseconds ns: Int64, precision: Precision) -> String {
        let nsPerSecond: Int64 = 1_000_000_000
        // Floor division so that times before the epoch land in the right second.
        var seconds = ns / nsPerSecond
        var subsecond = ns % nsPerSecond
        if subsecond < 0 { subsecond += nsPerSecond; seconds -= 1 }
        var days = seconds / 86_400
        var secondOfDay = seconds % 86_400
        if secondOfDay < 0 { secondOfDay += 86_400; days -= 1 }
        let (year, month, day) = civilDate(daysSinceEpoch: days)

        var out = ""
        out.reserveCapacity(27)
        if year < 0 {
            out.append("-")
            pad(-year, 4, &out)
        } else {
            pad(year, 4, &out)
        }
        out.append("-"); pad(month, 2, &out)
        out.append("-"); pad(day, 2, &out)
        out.append("T"); pad(secondOfDay / 3600, 2, &out)
        out.append(":"); pad(secondOfDay / 60 % 60, 2, &out)
        out.append(":"); pad(secondOfDay % 60, 2, &out)
        out.append(".")
        switch precision {
        case .milliseconds: pad(subsecond / 1_000_000, 3, &out)
        case .microseconds: pad(subsecond / 1_000, 6, &out)
        }
        out.append("Z")
        return out
    }

    /// Appends `value` (not negative) in decimal, left-padded with zeros to `width`.
    private static func pad(_ value: Int64, _ width: Int, _ out: inout String) {
        let digits = String(value)
        if digits.count < width { out.append(String(repeating: "0", count: width - digits.count)) }
        out.append(digits)
    }

    /// The proleptic Gregorian date of a day counted from 1970-01-01 (Howard Hinnant's
    /// `civil_from_days`, exact for every `Int64` day this type can be given).
    static func civilDate(daysSinceEpoch: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = daysSinceEpoch + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        return (year, month, day)
    }
}

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
