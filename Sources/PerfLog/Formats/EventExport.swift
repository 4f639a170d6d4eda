// Raw-event exports: every retained event (retained measures and open marks) of the
// selected streams, in commit order, written incrementally so that a log of any size
// exports in bounded memory. Summaries (JSON, Markdown, OpenMetrics) are projections,
// not event streams, and are written elsewhere.

/// A format for exporting the log's raw events.
public enum EventExportFormat: String, Sendable, Hashable, CaseIterable {
    /// perflog's NDJSON: exactly ``Event/jsonLine`` and a line feed per event, marks and
    /// measures. ``ImportedEvents`` reads it back.
    case ndjson
    /// CSV (RFC 4180): a header line, then one record per event, marks and measures;
    /// see ``EventExporter/csvHeader``. Lines end in CR LF, as RFC 4180 specifies (and
    /// spreadsheets expect); fields holding a comma, a double quote, CR or LF are put in
    /// double quotes with their double quotes doubled.
    case csv
    /// The old tracker's flat JSON array, measures only:
    /// `[{"agent":…,"cli":…,"duration":<ms>,"timestamp":"<ISO 8601 ms>","success":<bool>}]`,
    /// one element a line. `duration` is milliseconds rounded to the microsecond and
    /// `timestamp` is UTC with milliseconds (truncated), as in `agent-performance.json`'s
    /// `measurements`. ``ImportedEvents`` reads it back.
    case seed
}

/// Writes events in one ``EventExportFormat``, appending text to a string: call
/// ``begin(into:)`` once, ``write(_:into:)`` for each event in order, ``end(into:)`` once.
public struct EventExporter: Sendable {
    /// The format written.
    public let format: EventExportFormat
    /// Events written so far (for `seed`, measures only: marks are skipped).
    public private(set) var written = 0

    /// The CSV header (without its line end): the columns of every CSV record.
    ///
    /// `seq`; `time` (ISO 8601 UTC with microseconds); `kind` (`mark` or `measure`);
    /// `agent`; `cli`; `invocation` (16 hexadecimal digits); `durationMs` (milliseconds
    /// rounded to the microsecond, empty for marks); `outcome` (`ok` or `failed`, empty
    /// for marks); `exitCode` (empty when there is none); `pid`; `meta` (the metadata as
    /// a compact JSON object with keys in order, empty when there is none); `signal`
    /// (the number of the signal that ended a failed measure, empty when none did; last,
    /// so that the earlier columns keep their places).
    public static let csvHeader = "seq,time,kind,agent,cli,invocation,durationMs,outcome,exitCode,pid,meta,signal"

    /// A writer for `format`.
    public init(format: EventExportFormat) {
        self.format = format
    }

    /// Appends what comes before the first event: the CSV header, the seed array's `[`.
    public mutating func begin(into out: inout String) {
        switch format {
        case .ndjson: break
        case .csv: out.append(EventExporter.csvHeader + "\r\n")
        case .seed: out.append("[")
        }
    }

    /// Appends `event` (nothing for a mark in `seed`).
    public mutating func write(_ event: Event, into out: inout String) {
        switch format {
        case .ndjson:
            out.append(event.jsonLine)
            out.append("\n")
        case .csv:
            EventExporter.appendCSV(event, to: &out)
        case .seed:
            guard event.kind == .measure else { return }
            var element = JSONBuffer(capacity: 128 + event.stream.agent.utf8.count + event.stream.cli.utf8.count)
            element.raw(written == 0 ? "\n  " : ",\n  ")
            element.raw("{\"agent\":")
            element.quoted(event.stream.agent)
            element.raw(",\"cli\":")
            element.quoted(event.stream.cli)
            element.raw(",\"duration\":")
            element.milliseconds(nanoseconds: event.durationNs)
            element.raw(",\"timestamp\":")
            element.timestamp(event.wallTimeNs)
            element.raw(event.outcome == .ok ? ",\"success\":true}" : ",\"success\":false}")
            out.append(element.text)
        }
        written += 1
    }

    /// Appends what comes after the last event: the seed array's `]` and line feed.
    public mutating func end(into out: inout String) {
        if format == .seed { out.append(written == 0 ? "]\n" : "\n]\n") }
    }

    private static func appendCSV(_ e: Event, to out: inout String) {
        out.append(String(e.seq))
        out.append(",")
        out.append(Timestamp.iso8601(unixNanoseconds: e.wallTimeNs, precision: .microseconds))
        out.append(",")
        out.append(e.kind.rawValue)
        out.append(",")
        CSVText.appendField(e.stream.agent, to: &out)
        out.append(",")
        CSVText.appendField(e.stream.cli, to: &out)
        out.append(",")
        out.append(e.invocation.description)
        out.append(",")
        if e.kind == .measure {
            out.append(JSONBuffer.text { $0.milliseconds(nanoseconds: e.durationNs) })
            out.append(",")
            out.append(e.outcome.rawValue)
        } else {
            out.append(",")
        }
        out.append(",")
        if let code = e.exitCode { out.append(String(code)) }
        out.append(",")
        out.append(String(e.pid))
        out.append(",")
        if !e.meta.isEmpty {
            CSVText.appendField(JSONBuffer.text { e.meta.write(to: &$0) }, to: &out)
        }
        out.append(",")
        if let signal = e.signal { out.append(String(signal)) }
        out.append("\r\n")
    }
}

extension EventLog {
    /// Writes every retained event (retained measures and open marks) of the streams
    /// `filter` keeps, in commit order, in `format`, from one consistent snapshot.
    ///
    /// With a bounded `timeRange` only the events whose wall-clock time is in it are
    /// written (a measure's end, a mark's start), as ``Projector/Options/timeRange``
    /// selects them for a projection.
    ///
    /// Text is handed to `sink` in chunks of at least `chunkBytes` bytes (UTF-8), the
    /// last one shorter, so memory stays bounded whatever the size of the log; an empty
    /// ndjson export hands over nothing. The snapshot's read transaction stays open
    /// until `sink` has taken the last chunk.
    /// - Returns: the number of events written (for `seed`, measures).
    /// - Throws: ``PerfLogError`` from reading the log, or the one `sink` throws (which
    ///   stops the export); any other error of `sink` arrives as in ``read(_:)``.
    @discardableResult
    public func exportEvents(
        _ format: EventExportFormat, _ filter: StreamFilter = StreamFilter(), timeRange: TimeRange = TimeRange(),
        chunkBytes: Int = 1 << 16,
        to sink: (String) throws -> Void
    ) throws(PerfLogError) -> Int {
        try read { r in
            var exporter = EventExporter(format: format)
            var buffer = ""
            buffer.reserveCapacity(chunkBytes + 1024)
            exporter.begin(into: &buffer)
            var after: UInt64 = 0
            while true {
                let page = try r.timeline(after: after, limit: 1024, filter)
                for event in page where timeRange.contains(event.wallTimeNs) {
                    exporter.write(event, into: &buffer)
                    if buffer.utf8.count >= chunkBytes {
                        try sink(buffer)
                        buffer.removeAll(keepingCapacity: true)
                    }
                }
                guard let last = page.last, page.count == 1024 else { break }
                after = last.seq
            }
            exporter.end(into: &buffer)
            if !buffer.isEmpty { try sink(buffer) }
            return exporter.written
        }
    }
}
