// Import input is hostile: files and pipes that perflog did not write, and fuzzed. It is
// read by a strict recursive-descent JSON parser (RFC 8259) over UTF-8 bytes: nesting is
// bounded (so is recursion), strings are validated as UTF-8, numbers are kept as their
// text and converted exactly (never through Double, so `812.413` is 812,413,000 ns and
// a number of a thousand digits is "too large", not infinity). No input can crash it.
// Foundation is not used: perflog starts many times a minute and JSONDecoder costs more
// to load than a whole import of a small file.

/// Events read from import input: perflog's NDJSON, or the old tracker's flat JSON array.
///
/// Both formats are detected from the first byte that is not white space (after an
/// optional UTF-8 byte order mark): `[` starts a flat array, anything else is NDJSON.
///
/// **NDJSON** is one object a line in the shape ``Event/jsonLine`` writes. `seq` is
/// ignored (the importing log assigns its own). Every other field is checked: `time`
/// is ISO 8601 UTC ending in `Z` (up to nine fractional digits); `kind` is `mark` or
/// `measure`; `agent` and `cli` follow ``StreamName``'s rules; `invocation` is 1 to 16
/// hexadecimal digits; `pid` and `exitCode` are integers that fit 32 bits; a measure has
/// `durationMs` (a number of milliseconds, at least 0, kept to the nanosecond) and
/// `outcome` (`ok` or `failed`), a mark has neither; `meta` is an object of strings
/// following ``Metadata``'s rules. Unknown keys, duplicate keys and `null` values are
/// rejected: this is perflog's own format, and a misspelled key silently ignored would
/// be data silently lost. Blank lines are skipped; a line may end in CR LF.
///
/// **The flat array** is `[{"agent":…,"cli":…,"duration":<ms>,"timestamp":…,
/// "success":<bool>}]` as the old tracker (and ``EventExportFormat/seed``) wrote it.
/// `timestamp` is ISO 8601 (with `Z` or a `±hh:mm` offset) or a number of milliseconds
/// since the Unix epoch; `success` is optional (absent or `null` means `true`). Other
/// keys are ignored, since the old tracker's records may carry fields perflog has no
/// place for. Each element becomes a measure with pid 0 and an invocation id derived
/// from its content (``derivedInvocation(stream:wallTimeNs:durationNs:)``), so that
/// importing the same records again finds them already present.
public struct ImportedEvents: Sendable {
    /// The detected input format.
    public enum Format: String, Sendable, Hashable {
        /// perflog's NDJSON, one event a line.
        case ndjson
        /// The old tracker's flat JSON array of measurements.
        case flatArray
    }

    /// The longest NDJSON line accepted, in bytes. A valid event is at most a few KiB.
    public static let maxLineBytes = 1 << 20
    /// How deeply JSON arrays and objects may nest. Valid input nests two levels.
    public static let maxDepth = 32
    /// How many of the skipped records' errors ``problems`` keeps.
    public static let maxProblems = 100

    /// The detected format.
    public var format: Format
    /// The valid events, in input order (their `seq` is 0).
    public var events: [Event]
    /// Records skipped as invalid (only with `skipInvalid`).
    public var invalid: Int
    /// Why records were skipped: the first ``maxProblems`` errors, each naming the line
    /// (NDJSON) or element, the field and the rule.
    public var problems: [PerfLogError]

    /// Parses import input held in memory (read in chunks by ``ImportReader``, as a
    /// file is).
    /// - Parameters:
    ///   - bytes: the whole input (UTF-8).
    ///   - skipInvalid: skip (and count) records that break a rule instead of failing.
    ///     A flat array that is not well-formed JSON fails even so: its elements cannot
    ///     be told apart.
    /// - Throws: ``PerfLogError`` (`invalidInput`): for NDJSON the field reads
    ///   `line N: <field>` (lines count from 1, blank ones included); for the flat array
    ///   `element N (line L): <field>` (elements count from 1); the rule says what is
    ///   required. Malformed JSON names the column too.
    public init(parsing bytes: [UInt8], skipInvalid: Bool = false) throws(PerfLogError) {
        try self.init(reading: ImportReader(ImportBytes(bytes)), skipInvalid: skipInvalid)
    }

    /// Every record `reader` reads, kept in memory; see ``init(parsing:skipInvalid:)``.
    /// - Throws: ``PerfLogError``: `invalidInput` as for ``init(parsing:skipInvalid:)``,
    ///   `storage` when reading fails.
    package init(reading reader: ImportReader, skipInvalid: Bool) throws(PerfLogError) {
        var parsed = ImportedEvents(format: .ndjson, events: [], invalid: 0, problems: [])
        while let record = try reader.next() {
            switch record {
            case .success(let event): parsed.events.append(event)
            case .failure(let error):
                guard skipInvalid else { throw error }
                parsed.skip(error)
            }
        }
        parsed.format = reader.format ?? .ndjson
        self = parsed
    }

    /// Parses import input given as text; see ``init(parsing:skipInvalid:)``.
    /// - Throws: ``PerfLogError`` (`invalidInput`) naming the line or element, field and rule.
    public init(parsing text: String, skipInvalid: Bool = false) throws(PerfLogError) {
        try self.init(parsing: Array(text.utf8), skipInvalid: skipInvalid)
    }

    private init(format: Format, events: [Event], invalid: Int, problems: [PerfLogError]) {
        self.format = format
        self.events = events
        self.invalid = invalid
        self.problems = problems
    }

    mutating func skip(_ error: PerfLogError) {
        invalid += 1
        if problems.count < ImportedEvents.maxProblems { problems.append(error) }
    }

    /// One NDJSON line as an event, or `nil` for a blank line.
    static func ndjsonLine(
        _ b: UnsafeBufferPointer<UInt8>, from start: Int, to end: Int, line: Int
    ) throws(PerfLogError) -> Event? {
        let location = "line \(line)"
        guard let pairs = try ndjsonObject(b, from: start, to: end, at: location) else { return nil }
        return try EventRecordFields.event(pairs, at: location)
    }

    /// One NDJSON line as the pairs of its object, or `nil` for a blank line.
    package static func ndjsonObject(
        _ b: UnsafeBufferPointer<UInt8>, from start: Int, to end: Int, at location: String
    ) throws(PerfLogError) -> [(key: String, value: JSONValue)]? {
        var blank = true
        for i in start..<end where !JSONParser.isSpace(b[i]) { blank = false; break }
        if blank { return nil }
        guard end - start <= maxLineBytes else {
            throw .invalidInput(field: location, rule: "is longer than \(maxLineBytes) bytes")
        }
        var parser = JSONParser(b, from: start, to: end)
        let value: JSONValue
        do {
            value = try parser.document()
        } catch {
            let column = error.offset - start + 1
            throw .invalidInput(field: error.key.map { "\(location): \($0)" } ?? location,
                                rule: "invalid JSON at column \(column): \(error.message)")
        }
        guard case .object(let pairs) = value else {
            throw .invalidInput(field: location, rule: "must be a JSON object (got \(value.typeName))")
        }
        return pairs
    }

    /// The invocation id given to a flat-array record, which has none: a 64-bit FNV-1a
    /// hash of the agent, the CLI (each followed by a zero byte, which names cannot
    /// contain), the wall time and the duration (each as 8 little-endian bytes of
    /// nanoseconds). The same record always gets the same id, whether its timestamp was
    /// written as ISO 8601 or epoch milliseconds.
    public static func derivedInvocation(stream: StreamName, wallTimeNs: Int64, durationNs: UInt64) -> InvocationID {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ byte: UInt8) { h = (h ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        for byte in stream.agent.utf8 { mix(byte) }
        mix(0)
        for byte in stream.cli.utf8 { mix(byte) }
        mix(0)
        for shift in stride(from: 0, to: 64, by: 8) { mix(UInt8(truncatingIfNeeded: UInt64(bitPattern: wallTimeNs) >> UInt64(shift))) }
        for shift in stride(from: 0, to: 64, by: 8) { mix(UInt8(truncatingIfNeeded: durationNs >> UInt64(shift))) }
        return InvocationID(rawValue: h)
    }
}

extension Event {
    /// Parses one line of perflog's NDJSON (the shape ``jsonLine`` writes; `seq` is
    /// ignored and left 0). The rules are those of ``ImportedEvents``.
    /// - Throws: ``PerfLogError`` (`invalidInput`) naming the field and the rule.
    public init(jsonLine line: String) throws(PerfLogError) {
        let bytes = Array(line.utf8)
        let event = try bytes.withUnsafeBufferPointer { (b: UnsafeBufferPointer<UInt8>) throws(PerfLogError) -> Event? in
            try ImportedEvents.ndjsonLine(b, from: 0, to: b.count, line: 1)
        }
        guard let event else { throw .invalidInput(field: "line 1", rule: "is empty") }
        self = event
    }
}

// MARK: - Records

/// The fields of one NDJSON event object, each checked against its own rule.
package struct EventFields {
    package var time: Int64?
    package var kind: Event.Kind?
    package var agent: String?
    package var cli: String?
    package var invocation: InvocationID?
    package var durationNs: UInt64?
    package var outcome: Outcome?
    package var exitCode: Int32?
    package var pid: Int32?
    package var meta: Metadata
}

/// Turns a parsed NDJSON object into an event, checking every field.
package enum EventRecordFields {
    static let keys = ["seq", "time", "kind", "agent", "cli", "invocation", "durationMs", "outcome", "exitCode", "pid", "meta"]

    /// Every field present, each checked on its own; which are required is the caller's rule.
    package static func fields(_ pairs: [(key: String, value: JSONValue)], at location: String) throws(PerfLogError) -> EventFields {
        func fail(_ field: String, _ rule: String) -> PerfLogError { .invalidInput(field: "\(location): \(field)", rule: rule) }

        var time: Int64?, kind: Event.Kind?, agent: String?, cli: String?, invocation: InvocationID?
        var durationNs: UInt64?, outcome: Outcome?, exitCode: Int32?, pid: Int32?, meta = Metadata()
        // Known keys are told apart by a bit each (a set of strings cost a third of the
        // time of parsing a line); an unknown key is refused below, so it needs no bit.
        var seen: UInt16 = 0
        for (key, value) in pairs {
            if let bit = keys.firstIndex(of: key) {
                guard seen & (1 << bit) == 0 else { throw fail(key, "appears twice") }
                seen |= 1 << bit
            }
            switch key {
            case "seq":
                guard case .number = value else { throw fail(key, "must be a number (got \(value.typeName))") }
            case "time":
                guard case .string(let s) = value, let t = ISO8601.parse(s, allowOffset: false) else {
                    throw fail(key, "must be an ISO 8601 UTC time such as \"2026-01-19T20:50:24.123456Z\"")
                }
                time = t
            case "kind":
                guard case .string(let s) = value, let k = Event.Kind(rawValue: s) else {
                    throw fail(key, "must be \"mark\" or \"measure\"")
                }
                kind = k
            case "agent", "cli":
                guard case .string(let s) = value else { throw fail(key, "must be a string (got \(value.typeName))") }
                do { try StreamName.validate(s, field: key) } catch { throw fail(key, rule(of: error)) }
                if key == "agent" { agent = s } else { cli = s }
            case "invocation":
                guard case .string(let s) = value, let id = hexInvocation(s) else {
                    throw fail(key, "must be 1 to 16 hexadecimal digits")
                }
                invocation = id
            case "durationMs":
                guard case .number(let n) = value else { throw fail(key, "must be a number of milliseconds (got \(value.typeName))") }
                durationNs = try nanoseconds(fromMilliseconds: n) { rule throws(PerfLogError) in throw fail(key, rule) }
            case "outcome":
                guard case .string(let s) = value, let o = Outcome(rawValue: s) else { throw fail(key, "must be \"ok\" or \"failed\"") }
                outcome = o
            case "exitCode", "pid":
                guard case .number(let n) = value, n.isInteger, let v = n.integer(), let v32 = Int32(exactly: v) else {
                    throw fail(key, "must be an integer from \(Int32.min) to \(Int32.max)")
                }
                if key == "pid" { pid = v32 } else { exitCode = v32 }
            case "meta":
                guard case .object(let entries) = value else { throw fail(key, "must be an object of strings (got \(value.typeName))") }
                var strings: [(String, String)] = []
                var metaKeys = Set<String>()
                for (k, v) in entries {
                    guard metaKeys.insert(k).inserted else { throw fail("meta.\(k)", "appears twice") }
                    guard case .string(let s) = v else { throw fail("meta.\(k)", "must be a string (got \(v.typeName))") }
                    strings.append((k, s))
                }
                do { meta = try Metadata.validated(strings) } catch {
                    guard case .invalidInput(let field, let rule) = error else { throw error }
                    throw fail(field, rule)
                }
            default:
                throw fail(key, "is not a field of perflog's NDJSON (expected one of \(keys.joined(separator: ", ")))")
            }
        }
        return EventFields(time: time, kind: kind, agent: agent, cli: cli, invocation: invocation, durationNs: durationNs,
                           outcome: outcome, exitCode: exitCode, pid: pid, meta: meta)
    }

    /// An event of perflog's NDJSON: every field required except `seq`, `exitCode` and
    /// `meta`.
    static func event(_ pairs: [(key: String, value: JSONValue)], at location: String) throws(PerfLogError) -> Event {
        func fail(_ field: String, _ rule: String) -> PerfLogError { .invalidInput(field: "\(location): \(field)", rule: rule) }
        let f = try fields(pairs, at: location)
        let (time, kind, agent, cli, invocation, durationNs, outcome, exitCode, pid, meta) =
            (f.time, f.kind, f.agent, f.cli, f.invocation, f.durationNs, f.outcome, f.exitCode, f.pid, f.meta)
        guard let time else { throw fail("time", "is missing") }
        guard let kind else { throw fail("kind", "is missing") }
        guard let agent else { throw fail("agent", "is missing") }
        guard let cli else { throw fail("cli", "is missing") }
        guard let invocation else { throw fail("invocation", "is missing") }
        guard let pid else { throw fail("pid", "is missing") }
        let stream = StreamName(unchecked: agent, cli: cli)
        switch kind {
        case .mark:
            if durationNs != nil { throw fail("durationMs", "only a measure has one (this is a mark)") }
            if outcome != nil { throw fail("outcome", "only a measure has one (this is a mark)") }
            var mark = Event.mark(stream, invocation: invocation, wallTimeNs: time, pid: pid, meta: meta)
            mark.exitCode = exitCode
            return mark
        case .measure:
            guard let durationNs else { throw fail("durationMs", "is missing (a measure has one)") }
            guard let outcome else { throw fail("outcome", "is missing (a measure has one)") }
            return .measure(stream, invocation: invocation, durationNs: durationNs, outcome: outcome, exitCode: exitCode,
                            wallTimeNs: time, pid: pid, meta: meta)
        }
    }

    /// 1 to 16 hexadecimal digits, either case, nothing else (no sign, no prefix).
    static func hexInvocation(_ s: String) -> InvocationID? {
        var v: UInt64 = 0
        var n = 0
        for c in s.utf8 {
            n += 1
            guard n <= 16, let d = hexValue(c) else { return nil }
            v = v << 4 | UInt64(d)
        }
        return n == 0 ? nil : InvocationID(rawValue: v)
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

/// Turns one element of the old tracker's flat array into a measure.
enum FlatRecordFields {
    static func event(_ value: JSONValue, at location: String) throws(PerfLogError) -> Event {
        func fail(_ field: String, _ rule: String) -> PerfLogError { .invalidInput(field: "\(location): \(field)", rule: rule) }
        guard case .object(let pairs) = value else {
            throw PerfLogError.invalidInput(field: location, rule: "must be an object (got \(value.typeName))")
        }
        var agent: String?, cli: String?, durationNs: UInt64?, time: Int64?, success = true
        var seen = Set<String>()
        for (key, value) in pairs {
            guard seen.insert(key).inserted else { throw fail(key, "appears twice") }
            switch key {
            case "agent", "cli":
                guard case .string(let s) = value else { throw fail(key, "must be a string (got \(value.typeName))") }
                do { try StreamName.validate(s, field: key) } catch { throw fail(key, rule(of: error)) }
                if key == "agent" { agent = s } else { cli = s }
            case "duration":
                guard case .number(let n) = value else { throw fail(key, "must be a number of milliseconds (got \(value.typeName))") }
                durationNs = try nanoseconds(fromMilliseconds: n) { rule throws(PerfLogError) in throw fail(key, rule) }
            case "timestamp":
                switch value {
                case .string(let s):
                    guard let t = ISO8601.parse(s, allowOffset: true) else {
                        throw fail(key, "must be an ISO 8601 time such as \"2026-01-19T20:50:24.123Z\" or epoch milliseconds")
                    }
                    time = t
                case .number(let n):
                    guard let t = n.scaled(byPowerOfTen: 6), let signed = t.int64 else {
                        throw fail(key, "is out of range (epoch milliseconds from 1677 to 2262)")
                    }
                    time = signed
                default:
                    throw fail(key, "must be an ISO 8601 string or a number of epoch milliseconds (got \(value.typeName))")
                }
            case "success":
                switch value {
                case .bool(let b): success = b
                case .null: success = true
                default: throw fail(key, "must be true or false (got \(value.typeName))")
                }
            default:
                continue
            }
        }
        guard let agent else { throw fail("agent", "is missing") }
        guard let cli else { throw fail("cli", "is missing") }
        guard let durationNs else { throw fail("duration", "is missing") }
        guard let time else { throw fail("timestamp", "is missing") }
        let stream = StreamName(unchecked: agent, cli: cli)
        let id = ImportedEvents.derivedInvocation(stream: stream, wallTimeNs: time, durationNs: durationNs)
        return .measure(stream, invocation: id, durationNs: durationNs, outcome: success ? .ok : .failed,
                        wallTimeNs: time, pid: 0)
    }
}

/// The rule of an `invalidInput` error (the field is renamed by the caller).
private func rule(of error: PerfLogError) -> String {
    if case .invalidInput(_, let rule) = error { return rule }
    return error.description
}

/// A duration in milliseconds as whole nanoseconds (halves rounded up).
private func nanoseconds(
    fromMilliseconds n: JSONNumber, fail: (String) throws(PerfLogError) -> Never
) throws(PerfLogError) -> UInt64 {
    guard let v = n.scaled(byPowerOfTen: 6) else {
        // Exports round to the microsecond, which takes the very largest durations just
        // past UInt64.max nanoseconds; they still import, as the largest duration.
        if let us = n.scaled(byPowerOfTen: 3), !us.negative, us.magnitude <= UInt64.max / 1000 + 1 { return .max }
        try fail("is too large (at most \(JSONText.decimal(UInt64.max, scale: 1_000_000)) ms)")
    }
    if v.negative { try fail("must not be negative") }
    return v.magnitude
}

// MARK: - Timestamps

/// Parses ISO 8601 date-times: `YYYY-MM-DDThh:mm:ss[.f…]Z`, with 1 to 9 fractional
/// digits, and optionally a `±hh:mm` offset instead of `Z`.
enum ISO8601 {
    /// Nanoseconds since the Unix epoch, or `nil` when `s` is not such a time or is
    /// outside what `Int64` nanoseconds can hold (1677 to 2262).
    static func parse(_ s: String, allowOffset: Bool) -> Int64? {
        var u = s.utf8.makeIterator()
        func next() -> UInt8? { u.next() }
        func digits(_ n: Int) -> Int64? {
            var v: Int64 = 0
            for _ in 0..<n {
                guard let c = next(), c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") else { return nil }
                v = v * 10 + Int64(c - UInt8(ascii: "0"))
            }
            return v
        }
        func expect(_ ascii: Unicode.Scalar) -> Bool { next() == UInt8(ascii: ascii) }

        guard let year = digits(4), expect("-"), let month = digits(2), expect("-"), let day = digits(2), expect("T"),
              let hour = digits(2), expect(":"), let minute = digits(2), expect(":"), let second = digits(2)
        else { return nil }
        guard (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year),
              hour <= 23, minute <= 59, second <= 59 else { return nil }
        var fraction: Int64 = 0
        var c = next()
        if c == UInt8(ascii: ".") {
            var count = 0
            c = next()
            while let d = c, d >= UInt8(ascii: "0"), d <= UInt8(ascii: "9") {
                count += 1
                guard count <= 9 else { return nil }
                fraction = fraction * 10 + Int64(d - UInt8(ascii: "0"))
                c = next()
            }
            guard count > 0 else { return nil }
            for _ in count..<9 { fraction *= 10 }
        }
        var offsetSeconds: Int64 = 0
        switch c {
        case UInt8(ascii: "Z"):
            break
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            guard allowOffset, let oh = digits(2), expect(":"), let om = digits(2), oh <= 23, om <= 59 else { return nil }
            offsetSeconds = (oh * 3600 + om * 60) * (c == UInt8(ascii: "+") ? 1 : -1)
        default:
            return nil
        }
        guard next() == nil else { return nil }

        let days = daysFromCivil(year: year, month: month, day: day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offsetSeconds
        // For the last second before the earliest representable one, seconds × 10⁹
        // alone overflows although the sum fits: borrow a second from the fraction.
        let borrow: Int64 = seconds < 0 && fraction > 0 ? 1 : 0
        let (scaled, o1) = (seconds + borrow).multipliedReportingOverflow(by: 1_000_000_000)
        let (ns, o2) = scaled.addingReportingOverflow(fraction - borrow * 1_000_000_000)
        return o1 || o2 ? nil : ns
    }

    static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
    /// `days_from_civil`, the inverse of ``Timestamp``'s date computation).
    static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}

// MARK: - JSON

/// A parsed JSON value.
package enum JSONValue {
    case string(String)
    case number(JSONNumber)
    case bool(Bool)
    case null
    case array([JSONValue])
    case object([(key: String, value: JSONValue)])

    /// The JSON type's name, for messages.
    var typeName: String {
        switch self {
        case .string: return "a string"
        case .number: return "a number"
        case .bool: return "a boolean"
        case .null: return "null"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}

/// A JSON number kept as its text (which matches JSON's number grammar), so that it
/// converts exactly.
package struct JSONNumber {
    /// The number as written.
    var text: String
    /// Whether it has neither a fraction nor an exponent.
    var isInteger: Bool

    /// A value converted to an integer: sign and magnitude.
    struct Scaled {
        /// Whether the value is below zero (never set for zero itself, even `-0`).
        var negative: Bool
        var magnitude: UInt64

        /// The value as `Int64`, when it fits.
        var int64: Int64? {
            if negative {
                return magnitude <= UInt64(Int64.max) + 1 ? Int64(truncatingIfNeeded: 0 &- magnitude) : nil
            }
            return Int64(exactly: magnitude)
        }
    }

    /// The value times 10^`power`, rounded to an integer (halves away from zero); `nil`
    /// when the magnitude exceeds `UInt64.max`.
    func scaled(byPowerOfTen power: Int) -> Scaled? {
        // Two passes over the text rather than a list of digits: this runs for every
        // number of every line a service receives, and must not allocate.
        var negative = false
        var significantCount = 0
        var fractionDigits = 0
        var exponent = 0
        var exponentNegative = false
        var part = 0  // 0 integer, 1 fraction, 2 exponent
        for c in text.utf8 {
            switch c {
            case UInt8(ascii: "-"):
                if part == 2 { exponentNegative = true } else { negative = true }
            case UInt8(ascii: "+"):
                break
            case UInt8(ascii: "."):
                part = 1
            case UInt8(ascii: "e"), UInt8(ascii: "E"):
                part = 2
            default:
                let d = c &- UInt8(ascii: "0")
                if part == 2 {
                    // Far beyond any representable value either way; stop growing.
                    if exponent < 100_000_000 { exponent = exponent * 10 + Int(d) }
                } else {
                    if part == 1 { fractionDigits += 1 }
                    if !(significantCount == 0 && d == 0) { significantCount += 1 }
                }
            }
        }
        if significantCount == 0 { return Scaled(negative: false, magnitude: 0) }
        let shift = (exponentNegative ? -exponent : exponent) - fractionDigits + power
        let keep: Int
        if shift >= 0 {
            guard significantCount + shift <= 20 else { return nil }
            keep = significantCount
        } else {
            keep = significantCount + shift
            if keep < 0 { return Scaled(negative: false, magnitude: 0) }
        }
        var v: UInt64 = 0
        var overflow = false
        func push(_ d: UInt8) {
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(UInt64(d))
            v = s
            overflow = overflow || o1 || o2
        }
        // The significant digits: the first `keep` are pushed, the next one rounds.
        var index = 0
        var roundUp = false
        for c in text.utf8 {
            if c == UInt8(ascii: "e") || c == UInt8(ascii: "E") { break }
            guard c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") else { continue }
            let d = c &- UInt8(ascii: "0")
            if index == 0 && d == 0 { continue }
            if index < keep { push(d) } else if index == keep { roundUp = d >= 5 }
            index += 1
            if index > keep { break }
        }
        if shift > 0 { for _ in 0..<shift { push(0) } }
        if roundUp {
            let (s, o) = v.addingReportingOverflow(1)
            v = s
            overflow = overflow || o
        }
        guard !overflow else { return nil }
        return Scaled(negative: negative && v != 0, magnitude: v)
    }

    /// The value when it is an integer that fits `Int64`.
    func integer() -> Int64? { isInteger ? scaled(byPowerOfTen: 0)?.int64 : nil }
}

/// Why JSON text could not be parsed, and where.
struct JSONSyntaxError: Error {
    /// Byte offset in the whole input.
    var offset: Int
    var message: String
    /// The top-level object's key whose value was being parsed, if any.
    var key: String?
}

/// A strict JSON parser over a range of UTF-8 bytes; valid only while the buffer is.
struct JSONParser {
    let b: UnsafeBufferPointer<UInt8>
    var i: Int
    let end: Int
    /// The top-level key whose value is being parsed, named in errors.
    var key: String?

    init(_ b: UnsafeBufferPointer<UInt8>, from start: Int, to end: Int) {
        self.b = b
        i = start
        self.end = end
    }

    @inline(__always)
    static func isSpace(_ c: UInt8) -> Bool {
        c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09
    }

    private func failure(_ message: String, at offset: Int? = nil) -> JSONSyntaxError {
        JSONSyntaxError(offset: offset ?? i, message: message, key: key)
    }

    private mutating func skipSpace() {
        while i < end && JSONParser.isSpace(b[i]) { i += 1 }
    }

    private func describe(_ c: UInt8) -> String {
        c >= 0x21 && c < 0x7F ? "'\(Character(Unicode.Scalar(c)))'" : "byte 0x\(String(c, radix: 16))"
    }

    /// One value and nothing after it but white space.
    mutating func document() throws(JSONSyntaxError) -> JSONValue {
        let v = try value(depth: 0)
        key = nil
        skipSpace()
        guard i == end else { throw failure("unexpected \(describe(b[i])) after the value") }
        return v
    }

    /// One element of a top-level array (parsed one level deep, as the array's own
    /// parser would); the caller reads what follows it.
    mutating func element() throws(JSONSyntaxError) -> JSONValue {
        try value(depth: 1)
    }

    private mutating func value(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        skipSpace()
        guard i < end else { throw failure("unexpected end of input") }
        switch b[i] {
        case UInt8(ascii: "{"): return try object(depth: depth)
        case UInt8(ascii: "["): return try array(depth: depth)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        default: throw failure("unexpected \(describe(b[i]))")
        }
    }

    private mutating func literal(_ word: StaticString) throws(JSONSyntaxError) {
        let n = word.utf8CodeUnitCount
        guard end - i >= n else { throw failure("unexpected end of input") }
        for k in 0..<n where b[i + k] != word.utf8Start[k] { throw failure("unexpected \(describe(b[i]))") }
        i += n
    }

    private mutating func object(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        guard depth < ImportedEvents.maxDepth else { throw failure("nested more than \(ImportedEvents.maxDepth) levels deep") }
        i += 1
        var pairs: [(key: String, value: JSONValue)] = []
        // An event has up to eleven keys: one allocation instead of five growths.
        if depth == 0 { pairs.reserveCapacity(12) }
        skipSpace()
        if i < end && b[i] == UInt8(ascii: "}") { i += 1; return .object(pairs) }
        while true {
            skipSpace()
            guard i < end else { throw failure("unexpected end of input (the object is not closed)") }
            guard b[i] == UInt8(ascii: "\"") else { throw failure("expected a key in quotes, found \(describe(b[i]))") }
            let k = try string()
            skipSpace()
            guard i < end, b[i] == UInt8(ascii: ":") else { throw failure("expected ':' after the key") }
            i += 1
            if depth == 0 { key = k }
            pairs.append((k, try value(depth: depth + 1)))
            skipSpace()
            guard i < end else { throw failure("unexpected end of input (the object is not closed)") }
            if b[i] == UInt8(ascii: ",") { i += 1; continue }
            if b[i] == UInt8(ascii: "}") { i += 1; return .object(pairs) }
            throw failure("expected ',' or '}', found \(describe(b[i]))")
        }
    }

    private mutating func array(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        guard depth < ImportedEvents.maxDepth else { throw failure("nested more than \(ImportedEvents.maxDepth) levels deep") }
        i += 1
        var items: [JSONValue] = []
        skipSpace()
        if i < end && b[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
        while true {
            items.append(try value(depth: depth + 1))
            skipSpace()
            guard i < end else { throw failure("unexpected end of input (the array is not closed)") }
            if b[i] == UInt8(ascii: ",") { i += 1; continue }
            if b[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
            throw failure("expected ',' or ']', found \(describe(b[i]))")
        }
    }

    private mutating func number() throws(JSONSyntaxError) -> JSONNumber {
        let start = i
        var isInteger = true
        func isDigit(_ k: Int) -> Bool { k < end && b[k] >= UInt8(ascii: "0") && b[k] <= UInt8(ascii: "9") }
        if b[i] == UInt8(ascii: "-") { i += 1 }
        guard isDigit(i) else { throw failure("expected a digit") }
        if b[i] == UInt8(ascii: "0") {
            i += 1
            if isDigit(i) { throw failure("a number must not start with 0") }
        } else {
            while isDigit(i) { i += 1 }
        }
        if i < end && b[i] == UInt8(ascii: ".") {
            isInteger = false
            i += 1
            guard isDigit(i) else { throw failure("expected a digit after '.'") }
            while isDigit(i) { i += 1 }
        }
        if i < end && (b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E")) {
            isInteger = false
            i += 1
            if i < end && (b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-")) { i += 1 }
            guard isDigit(i) else { throw failure("expected a digit in the exponent") }
            while isDigit(i) { i += 1 }
        }
        return JSONNumber(text: String(decoding: UnsafeBufferPointer(rebasing: b[start..<i]), as: UTF8.self), isInteger: isInteger)
    }

    /// A string (the current byte is `"`), escapes decoded, checked to be valid UTF-8.
    private mutating func string() throws(JSONSyntaxError) -> String {
        let start = i
        i += 1
        var runStart = i
        var decoded: [UInt8]? = nil
        while true {
            guard i < end else { throw failure("unterminated string", at: start) }
            let c = b[i]
            if c == UInt8(ascii: "\"") { break }
            if c < 0x20 { throw failure("a control character (byte 0x\(String(c, radix: 16))) must be escaped in a string") }
            if c != UInt8(ascii: "\\") { i += 1; continue }
            if decoded == nil { decoded = [] }
            decoded!.append(contentsOf: UnsafeBufferPointer(rebasing: b[runStart..<i]))
            i += 1
            guard i < end else { throw failure("unterminated string", at: start) }
            let e = b[i]
            i += 1
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): decoded!.append(e)
            case UInt8(ascii: "b"): decoded!.append(0x08)
            case UInt8(ascii: "f"): decoded!.append(0x0C)
            case UInt8(ascii: "n"): decoded!.append(0x0A)
            case UInt8(ascii: "r"): decoded!.append(0x0D)
            case UInt8(ascii: "t"): decoded!.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if (0xD800...0xDBFF).contains(scalar) {
                    guard end - i >= 6, b[i] == UInt8(ascii: "\\"), b[i + 1] == UInt8(ascii: "u") else {
                        throw failure("a high surrogate escape must be followed by a low surrogate escape")
                    }
                    i += 2
                    let low = try hex4()
                    guard (0xDC00...0xDFFF).contains(low) else {
                        throw failure("a high surrogate escape must be followed by a low surrogate escape")
                    }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(scalar) {
                    throw failure("a low surrogate escape without a high one")
                }
                // Valid by construction: surrogates were excluded above.
                for unit in UTF8.encode(Unicode.Scalar(scalar)!)! { decoded!.append(unit) }
            default:
                throw failure("unknown escape \\\(Character(Unicode.Scalar(e)))")
            }
            runStart = i
        }
        let raw = UnsafeBufferPointer(rebasing: b[runStart..<i])
        i += 1
        if decoded == nil {
            guard JSONParser.isValidUTF8(raw) else { throw failure("invalid UTF-8 in a string", at: start) }
            return String(decoding: raw, as: UTF8.self)
        }
        decoded!.append(contentsOf: raw)
        return try decoded!.withUnsafeBufferPointer { (d: UnsafeBufferPointer<UInt8>) throws(JSONSyntaxError) -> String in
            guard JSONParser.isValidUTF8(d) else { throw failure("invalid UTF-8 in a string", at: start) }
            return String(decoding: d, as: UTF8.self)
        }
    }

    private mutating func hex4() throws(JSONSyntaxError) -> UInt32 {
        guard end - i >= 4 else { throw failure("expected four hexadecimal digits after \\u") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = b[i]
            let d: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
            default: throw failure("expected four hexadecimal digits after \\u")
            }
            v = v << 4 | d
            i += 1
        }
        return v
    }

    /// Whether `s` is well-formed UTF-8 (Unicode table 3-7: no overlong forms, no
    /// surrogates, nothing above U+10FFFF, no truncated sequences).
    static func isValidUTF8(_ s: UnsafeBufferPointer<UInt8>) -> Bool {
        var k = 0
        let n = s.count
        while k < n {
            let c = s[k]
            if c < 0x80 { k += 1; continue }
            func cont(_ j: Int, _ lo: UInt8 = 0x80, _ hi: UInt8 = 0xBF) -> Bool { j < n && s[j] >= lo && s[j] <= hi }
            switch c {
            case 0xC2...0xDF:
                guard cont(k + 1) else { return false }
                k += 2
            case 0xE0:
                guard cont(k + 1, 0xA0), cont(k + 2) else { return false }
                k += 3
            case 0xE1...0xEC, 0xEE...0xEF:
                guard cont(k + 1), cont(k + 2) else { return false }
                k += 3
            case 0xED:
                guard cont(k + 1, 0x80, 0x9F), cont(k + 2) else { return false }
                k += 3
            case 0xF0:
                guard cont(k + 1, 0x90), cont(k + 2), cont(k + 3) else { return false }
                k += 4
            case 0xF1...0xF3:
                guard cont(k + 1), cont(k + 2), cont(k + 3) else { return false }
                k += 4
            case 0xF4:
                guard cont(k + 1, 0x80, 0x8F), cont(k + 2), cont(k + 3) else { return false }
                k += 4
            default:
                return false
            }
        }
        return true
    }
}
