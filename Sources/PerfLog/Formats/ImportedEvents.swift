// Import input is hostile: files and pipes that perflog did not write, and fuzzed. It is
// read by a strict recursive-descent JSON parser (RFC 8259) over UTF-8 bytes: nesting is
// bounded (so is recursion), strings are validated as UTF-8, numbers are kept as their
// text and converted exactly (never through Double, so `812.413` is 812,413,000 ns and
// a number of a thousand digits is "too large", not infinity). No input can crash it.
// Foundation is not used: perflog starts many times a minute and JSONDecoder costs more
// to load than a whole import of a small file.

/// Events read from import input: perflog's NDJSON, or the old tracker's flat JSON array.
///
/// The format is detected from the first bytes that are not white space (after an
/// optional UTF-8 byte order mark): `[` starts a flat array, `{` followed by
/// `"schemaVersion"` is perflog's own `agent-performance.json` (its `measurements` are
/// read, in the flat array's shape), anything else is NDJSON.
///
/// **NDJSON** is one object a line in the shape ``Event/jsonLine`` writes. `seq` is
/// ignored (the importing log assigns its own). Every other field is checked: `time`
/// is ISO 8601 ending in `Z` or a `±hh:mm` offset (up to nine fractional digits); `kind` is `mark` or
/// `measure`; `agent` and `cli` follow ``StreamName``'s rules; `invocation` is 1 to 16
/// hexadecimal digits; `pid` and `exitCode` are integers that fit 32 bits; a measure has
/// `durationMs` (a number of milliseconds, at least 0, kept to the nanosecond) and
/// `outcome` (`ok` or `failed`), a mark has neither; `signal`, the signal that ended a
/// failed measure, is an integer from 1 to 64, on a measure with outcome `failed` and no
/// `exitCode` only; `meta` is an object of strings
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
        /// perflog's own `agent-performance.json`: the elements of its `measurements`,
        /// read as the flat array's are (the other members are passed over).
        case projection
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
    /// - Throws: ``PerfLogError``: for NDJSON `invalidLine` with the line (counting from
    ///   1, blank ones included) and the field; for the flat array `invalidInput` with the
    ///   field `element N (line L): <field>` (elements count from 1), or `invalidLine`
    ///   when it is not well-formed JSON; the rule says what is required. Malformed JSON
    ///   names the column too.
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
    /// - Throws: ``PerfLogError`` (`invalidLine` or `invalidInput`) naming the line or element, field and rule.
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
        guard let pairs = try ndjsonObject(b, from: start, to: end, line: line) else { return nil }
        return try EventRecordFields.event(pairs, line: line)
    }

    /// One NDJSON line (number `line`) as the pairs of its object, or `nil` for a blank
    /// line.
    package static func ndjsonObject(
        _ b: UnsafeBufferPointer<UInt8>, from start: Int, to end: Int, line: Int
    ) throws(PerfLogError) -> [(key: String, value: JSONValue)]? {
        var blank = true
        for i in start..<end where !JSONParser.isSpace(b[i]) { blank = false; break }
        if blank { return nil }
        guard end - start <= maxLineBytes else {
            throw .invalidLine(line: line, field: nil, rule: "is longer than \(maxLineBytes) bytes")
        }
        var parser = JSONParser(b, from: start, to: end)
        let value: JSONValue
        do {
            value = try parser.document()
        } catch {
            let column = error.offset - start + 1
            throw .invalidLine(line: line, field: error.key, rule: "invalid JSON at column \(column): \(error.message)")
        }
        guard case .object(let pairs) = value else {
            throw .invalidLine(line: line, field: nil, rule: "must be a JSON object (got \(value.typeName))")
        }
        return pairs
    }

    /// The invocation id given to a flat-array record, which has none: a 64-bit FNV-1a
    /// hash of the agent, the CLI (each followed by a zero byte, which names cannot
    /// contain), the wall time and the duration (each as 8 little-endian bytes of
    /// nanoseconds). The same record always gets the same id, whether its timestamp was
    /// written as ISO 8601 or epoch milliseconds.
    package static func derivedInvocation(stream: StreamName, wallTimeNs: Int64, durationNs: UInt64) -> InvocationID {
        var h = FNV1a()
        h.mix(stream.agent.utf8)
        h.mix(0)
        h.mix(stream.cli.utf8)
        h.mix(0)
        h.mix(littleEndian: UInt64(bitPattern: wallTimeNs))
        h.mix(littleEndian: durationNs)
        return InvocationID(rawValue: h.value)
    }
}

extension Event {
    /// Parses one line of perflog's NDJSON (the shape ``jsonLine`` writes; `seq` is
    /// ignored and left 0). The rules are those of ``ImportedEvents``.
    /// - Throws: ``PerfLogError`` (`invalidLine`, line 1) naming the field and the rule.
    public init(jsonLine line: String) throws(PerfLogError) {
        let bytes = Array(line.utf8)
        let event = try bytes.withUnsafeBufferPointer { (b: UnsafeBufferPointer<UInt8>) throws(PerfLogError) -> Event? in
            try ImportedEvents.ndjsonLine(b, from: 0, to: b.count, line: 1)
        }
        guard let event else { throw .invalidLine(line: 1, field: nil, rule: "is empty") }
        self = event
    }
}
