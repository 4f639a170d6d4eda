#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import LMDB

// Import input may be far larger than memory (a 10 GB export streams): it is read in
// fixed-size chunks into one buffer, and each record (an NDJSON line, an element of the
// flat array) is parsed where it lies in that buffer, never copied out. The buffer grows
// only to hold one record of the largest size accepted (``ImportedEvents/maxLineBytes``).

/// Where import input comes from: something read from the start, once or twice.
///
/// An import reads its input twice: a first pass checks every record, a second commits
/// them. ``rewind()`` starts the second pass, which must see the bytes the first saw.
public protocol ImportSource {
    /// Reads the next bytes of the input into `buffer`.
    /// - Returns: how many bytes were read (at most `buffer.count`); 0 at the end.
    /// - Throws: ``PerfLogError`` (`storage`) when reading fails.
    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws(PerfLogError) -> Int
    /// Goes back to the start of the input, to read it again.
    /// - Throws: ``PerfLogError`` (`storage`) when the input cannot be read again.
    mutating func rewind() throws(PerfLogError)
}

/// Import input held in memory.
public struct ImportBytes: ImportSource {
    private let bytes: [UInt8]
    private var offset = 0

    /// The input `bytes` (UTF-8).
    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// Copies the next bytes into `buffer`; see ``ImportSource/read(into:)``.
    public mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws(PerfLogError) -> Int {
        let n = min(buffer.count, bytes.count - offset)
        guard n > 0 else { return 0 }
        bytes.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress! + offset, byteCount: n) }
        offset += n
        return n
    }

    /// Starts again from the first byte.
    public mutating func rewind() throws(PerfLogError) { offset = 0 }
}

/// Import input read from a file descriptor: a regular file, read twice from its start,
/// or a pipe (standard input), spooled during the first pass to a private temporary
/// file that the second pass reads.
///
/// The second pass reads exactly as many bytes as the first did, so a file that grows
/// meanwhile imports what was checked. The spool file is unlinked as soon as it is
/// created (it is `0600` while it has a name), so no crash can leave it behind.
public struct ImportFile: ImportSource {
    private let fd: Int32
    private var spool: Int32?
    /// Bytes read so far in this pass.
    private var offset: Int64 = 0
    /// The first pass's length, once the second pass started.
    private var length: Int64?

    /// Input read from `fd`, which the caller keeps open and closes.
    /// - Parameter spoolDirectory: when set, the input is copied during the first pass
    ///   into a temporary file created there (for input that cannot be read twice,
    ///   such as a pipe); when `nil`, `fd` must be a regular file.
    /// - Throws: ``PerfLogError`` (`storage`) when the spool file cannot be created.
    public init(fileDescriptor fd: Int32, spoolDirectory: String? = nil) throws(PerfLogError) {
        self.fd = fd
        guard let spoolDirectory else { return }
        var template = Array((spoolDirectory + "/.perflog-import-XXXXXX").utf8CString)
        let spoolFD = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard spoolFD >= 0 else { throw ImportFile.failure("spooling standard input to \(spoolDirectory)") }
        // Unlinked at once: the open descriptor keeps the data, and nothing is left
        // behind by a crash, a kill -9 included.
        _ = template.withUnsafeBufferPointer { unlink($0.baseAddress!) }
        spool = spoolFD
    }

    /// Closes the spool file, if any (not the input's descriptor).
    public func close() {
        if let spool { _ = systemClose(spool) }
    }

    /// Reads the next bytes: from the input (copied to the spool) in the first pass,
    /// from the spool or the file again in the second.
    public mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws(PerfLogError) -> Int {
        var want = buffer.count
        if let length { want = Int(min(Int64(want), length - offset)) }
        guard want > 0 else { return 0 }
        let source = length != nil ? (spool ?? fd) : fd
        let offset = self.offset
        let n = POSIXIO.retryingInterrupts {
            length != nil || spool == nil
                ? pread(source, buffer.baseAddress, want, off_t(offset))
                : systemRead(source, buffer.baseAddress, want)
        }
        guard n >= 0 else { throw ImportFile.failure("reading the input", errno) }
        if n > 0, length == nil, let spool,
           let code = POSIXIO.writeAll(spool, UnsafeRawBufferPointer(rebasing: buffer[..<n]), at: offset) {
            throw ImportFile.failure("spooling standard input", code)
        }
        self.offset += Int64(n)
        return n
    }

    /// Starts the second pass.
    public mutating func rewind() throws(PerfLogError) {
        if length == nil { length = offset }
        offset = 0
    }

    private static func failure(_ operation: String, _ code: Int32 = errno) -> PerfLogError {
        .storage(LMDBError(LMDBError.Code(rawValue: code), operation: "read"), operation: operation)
    }
}

/// Reads import input record by record, in bounded memory: NDJSON line by line, the old
/// tracker's flat array element by element (the array may be one line of any length).
///
/// The rules and the messages are those of ``ImportedEvents``.
public final class ImportReader {
    /// Bytes read at a time unless told otherwise.
    public static let defaultChunkBytes = 1 << 20

    /// One record: its event, or why it is invalid (a record that can be skipped).
    public typealias Record = Result<Event, PerfLogError>

    private var source: any ImportSource
    private var buffer: UnsafeMutableBufferPointer<UInt8>
    private let chunkBytes: Int
    /// The largest the buffer may grow: a record of the largest size and its terminator.
    private let maxCapacity: Int
    /// Bytes `[pos, filled)` of the buffer are unread; `base` is the input offset of
    /// byte 0 of the buffer.
    private var pos = 0
    private var filled = 0
    private var base = 0
    private var atEnd = false

    /// The detected format, known after the first call to ``next()``.
    public private(set) var format: ImportedEvents.Format?
    /// Bytes of input consumed so far.
    public var offset: Int { base + pos }

    // NDJSON: the number of the last line returned. Flat array: the line of input offset
    // `countedTo`, and where that line starts.
    private var line = 0
    private var countedTo = 0
    private var lineStart = 0
    private var element = 0
    private enum ArrayState { case first, next, done }
    private var arrayState = ArrayState.first
    private var fast = ImportFastLine()

    /// A reader of `source`.
    /// - Parameter chunkBytes: how many bytes to read at a time (tests make it small so
    ///   that records cross chunk boundaries).
    public init(_ source: some ImportSource, chunkBytes: Int = ImportReader.defaultChunkBytes) {
        self.source = source
        self.chunkBytes = max(1, chunkBytes)
        maxCapacity = max(self.chunkBytes, ImportedEvents.maxLineBytes + 2)
        buffer = .allocate(capacity: self.chunkBytes)
    }

    deinit { buffer.deallocate() }

    /// Starts again from the first byte of the input (the source is rewound).
    /// - Throws: ``PerfLogError`` (`storage`) when the source cannot be read again.
    public func rewind() throws(PerfLogError) {
        try source.rewind()
        (pos, filled, base, atEnd, format) = (0, 0, 0, false, nil)
        (line, countedTo, lineStart, element, arrayState) = (0, 0, 0, 0, .first)
    }

    /// The next record, or `nil` at the end of the input. Blank NDJSON lines are skipped.
    /// - Returns: the event, or the error of a record that breaks a rule (which the
    ///   caller may skip).
    /// - Throws: ``PerfLogError``: `invalidLine` (`invalidInput` for an element too long)
    ///   when the flat array is not well-formed JSON (its elements cannot be told apart,
    ///   so nothing after can be read); `storage` when reading fails.
    public func next() throws(PerfLogError) -> Record? {
        try next { _ in true }
    }

    /// The next record ``wanted`` asks for, or `nil` at the end of the input: NDJSON lines
    /// whose ``position`` it refuses are passed over without being parsed (flat-array
    /// elements must be parsed to be told apart, so they are all returned).
    /// - Throws: as ``next()``.
    package func next(wanted: (Int) -> Bool) throws(PerfLogError) -> Record? {
        if format == nil { try detect() }
        if format == .ndjson { return try nextLine(wanted: wanted) }
        return try nextElement()
    }

    /// Where the last record returned is: its line (NDJSON, counted from 1, blank lines
    /// included) or its element (the flat array, counted from 1).
    package var position: Int { format == .ndjson ? line : element }

    // MARK: Buffer

    /// Reads more input after what is buffered, keeping `[pos, filled)`; returns false
    /// at the end of the input. The buffer grows (up to `maxCapacity`) when full.
    private func refill() throws(PerfLogError) -> Bool {
        guard !atEnd else { return false }
        if pos > 0 {
            if format != .ndjson { countLines(to: base + pos) }
            let keep = filled - pos
            if keep > 0 { memmove(buffer.baseAddress!, buffer.baseAddress! + pos, keep) }
            base += pos
            filled = keep
            pos = 0
        }
        if filled == buffer.count {
            guard buffer.count < maxCapacity else { return true }
            let grown = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: min(maxCapacity, buffer.count * 2))
            if filled > 0 { grown.baseAddress!.update(from: buffer.baseAddress!, count: filled) }
            buffer.deallocate()
            buffer = grown
        }
        let space = UnsafeMutableRawBufferPointer(start: buffer.baseAddress! + filled, count: min(chunkBytes, buffer.count - filled))
        let n = try source.read(into: space)
        if n == 0 { atEnd = true; return false }
        filled += n
        return true
    }

    /// Skips an optional byte order mark and tells the format from the first byte that
    /// is not white space. Leading blank lines are dropped as they are passed (NDJSON
    /// counts them), so a file of white space never fills memory.
    private func detect() throws(PerfLogError) {
        while filled - pos < 3, try refill() {}
        if filled - pos >= 3 && buffer[pos] == 0xEF && buffer[pos + 1] == 0xBB && buffer[pos + 2] == 0xBF {
            pos += 3
            countedTo = base + pos
            lineStart = countedTo
        }
        var i = pos
        while true {
            while i < filled && JSONParser.isSpace(buffer[i]) { i += 1 }
            if i < filled { break }
            // White space only so far: drop the complete lines.
            var k = pos
            while let feed = LineFeed.first(in: UnsafeRawBufferPointer(buffer), from: k, to: filled) {
                k = feed + 1
                line += 1
                pos = k
            }
            // A line of more white space than any record: NDJSON's rule refuses it.
            if filled - pos > ImportedEvents.maxLineBytes { format = .ndjson; return }
            let scanned = i - pos
            guard try refill() else { i = filled; break }
            i = pos + scanned
        }
        if i < filled && buffer[i] == UInt8(ascii: "[") {
            format = .flatArray
            // The blank lines dropped above were counted in `line`.
            countedTo = base + pos
            lineStart = countedTo
            lineNumber = line + 1
            pos = i + 1
        } else if i < filled && buffer[i] == UInt8(ascii: "{"), try isProjection(at: i) {
            format = .projection
            countedTo = base + pos
            lineStart = countedTo
            lineNumber = line + 1
            pos = i + 1
            if try !passMembers(untilKey: "measurements") { arrayState = .done }
        } else {
            format = .ndjson
        }
    }

    // MARK: agent-performance.json

    /// Whether the object at buffer index `i` begins with the key `"schemaVersion"`, as
    /// agent-performance.json does and no NDJSON event does (reads ahead as needed).
    private func isProjection(at i: Int) throws(PerfLogError) -> Bool {
        let key = Array("\"schemaVersion\"".utf8)
        let offset = i - pos
        while true {
            var k = pos + offset + 1
            while k < filled && JSONParser.isSpace(buffer[k]) { k += 1 }
            if filled - k >= key.count {
                return (0..<key.count).allSatisfy { buffer[k + $0] == key[$0] }
            }
            // Only white space after the brace, at most a line of it: then it is no event.
            if filled - pos > ImportedEvents.maxLineBytes { return false }
            guard try refill() else { return false }
        }
    }

    /// Reads the projection's members after `pos` (just after `{`, or after a member's
    /// value) up to the one named `name`, passing over the others' values; then `pos` is
    /// just after that member's `[`. Returns false when the object ends first (`name`
    /// `nil`: reads to its end), and checks that only white space follows it.
    private func passMembers(untilKey name: String?, first: Bool = true) throws(PerfLogError) -> Bool {
        var first = first
        while true {
            guard try skipSpace() else { throw syntaxError("unexpected end of input (the object is not closed)", at: pos) }
            if buffer[pos] == UInt8(ascii: "}") {
                pos += 1
                if try skipSpace() { throw syntaxError("unexpected \(JSONParser.describe(buffer[pos])) after the object", at: pos) }
                return false
            }
            if !first {
                guard buffer[pos] == UInt8(ascii: ",") else {
                    throw syntaxError("expected ',' or '}', found \(JSONParser.describe(buffer[pos]))", at: pos)
                }
                pos += 1
                guard try skipSpace() else { throw syntaxError("unexpected end of input", at: pos) }
            }
            first = false
            try bufferElement()
            var parser = JSONParser(UnsafeBufferPointer(buffer), from: pos, to: filled)
            let key: JSONValue
            do { key = try parser.element() } catch { throw syntaxError(error.message, at: error.offset) }
            guard case .string(let text) = key else { throw syntaxError("expected a member name", at: pos) }
            pos = parser.i
            guard try skipSpace(), buffer[pos] == UInt8(ascii: ":") else { throw syntaxError("expected ':'", at: pos) }
            pos += 1
            guard try skipSpace() else { throw syntaxError("unexpected end of input", at: pos) }
            if let name, text == name {
                guard buffer[pos] == UInt8(ascii: "[") else {
                    throw .invalidInput(field: name, rule: "must be an array of measurements")
                }
                pos += 1
                return true
            }
            try skipValue()
        }
    }

    /// Passes over the value at `pos` without keeping it (a projection's `streams` may
    /// be larger than any record): memory stays bounded by the read buffer.
    private func skipValue() throws(PerfLogError) {
        var scanner = JSONParser.ExtentScanner()
        while true {
            if scanner.scan(UnsafeBufferPointer(buffer), from: pos, to: filled) {
                pos = scanner.end
                return
            }
            pos = filled
            guard try refill() else { throw syntaxError("unexpected end of input", at: pos) }
        }
    }

    // MARK: NDJSON

    private func nextLine(wanted: (Int) -> Bool) throws(PerfLogError) -> Record? {
        nextLine: while true {
            var searched = pos
            var end: Int? = nil
            while true {
                if let feed = LineFeed.first(in: UnsafeRawBufferPointer(buffer), from: searched, to: filled) {
                    end = feed
                    break
                }
                if filled - pos > ImportedEvents.maxLineBytes {
                    line += 1
                    if try skipLongLine() { continue nextLine }
                    return .failure(.invalidLine(line: line, field: nil, rule: "is longer than \(ImportedEvents.maxLineBytes) bytes"))
                }
                let scanned = filled - pos
                guard try refill() else { break }
                searched = pos + scanned
            }
            if end == nil && pos == filled { return nil }
            let lineEnd = end ?? filled
            line += 1
            let start = pos
            pos = end.map { $0 + 1 } ?? filled
            guard wanted(line) else { continue nextLine }
            if let event = fast.event(UnsafeBufferPointer(buffer), from: start, to: lineEnd) { return .success(event) }
            do {
                if let event = try ImportedEvents.ndjsonLine(UnsafeBufferPointer(buffer), from: start, to: lineEnd, line: line) {
                    return .success(event)
                }
            } catch {
                return .failure(error)
            }
        }
    }

    /// Drops the rest of a line too long to hold; returns whether it was blank.
    private func skipLongLine() throws(PerfLogError) -> Bool {
        var blank = true
        while true {
            var k = pos
            while k < filled && buffer[k] != UInt8(ascii: "\n") {
                if !JSONParser.isSpace(buffer[k]) { blank = false }
                k += 1
            }
            if k < filled { pos = k + 1; return blank }
            pos = filled
            guard try refill() else { return blank }
        }
    }

    // MARK: Flat array

    /// The line of `countedTo`.
    private var lineNumber = 1

    /// Counts lines up to input offset `target` (within the buffer, not before `countedTo`).
    private func countLines(to target: Int) {
        guard target > countedTo else { return }
        var k = countedTo - base
        let end = target - base
        while let feed = LineFeed.first(in: UnsafeRawBufferPointer(buffer), from: k, to: end) {
            k = feed + 1
            lineNumber += 1
            lineStart = base + k
        }
        countedTo = target
    }

    /// The 1-based line and column of input offset `target` (within the buffer).
    private func position(of target: Int) -> (line: Int, column: Int) {
        countLines(to: target)
        return (lineNumber, target - lineStart + 1)
    }

    private func syntaxError(_ message: String, at bufferIndex: Int) -> PerfLogError {
        let (line, column) = position(of: base + bufferIndex)
        return .invalidLine(line: line, field: nil, rule: "invalid JSON at column \(column): \(message)")
    }

    /// Skips white space, reading more as needed; false at the end of the input.
    private func skipSpace() throws(PerfLogError) -> Bool {
        while true {
            while pos < filled && JSONParser.isSpace(buffer[pos]) { pos += 1 }
            if pos < filled { return true }
            guard try refill() else { return false }
        }
    }

    private func nextElement() throws(PerfLogError) -> Record? {
        switch arrayState {
        case .done:
            return nil
        case .first:
            guard try skipSpace() else { throw syntaxError("unexpected end of input", at: pos) }
            arrayState = .next
            if buffer[pos] == UInt8(ascii: "]") {
                pos += 1
                try finish()
                return nil
            }
        case .next:
            guard try skipSpace() else { throw syntaxError("unexpected end of input (the array is not closed)", at: pos) }
            switch buffer[pos] {
            case UInt8(ascii: ","):
                pos += 1
            case UInt8(ascii: "]"):
                pos += 1
                try finish()
                return nil
            default:
                throw syntaxError("expected ',' or ']', found \(JSONParser.describe(buffer[pos]))", at: pos)
            }
        }
        _ = try skipSpace()
        try bufferElement()
        element += 1
        let (elementLine, _) = position(of: base + pos)
        var parser = JSONParser(UnsafeBufferPointer(buffer), from: pos, to: filled)
        let value: JSONValue
        do {
            value = try parser.element()
        } catch {
            throw syntaxError(error.message, at: error.offset)
        }
        pos = parser.i
        do {
            return .success(try FlatRecordFields.event(value, at: "element \(element) (line \(elementLine))"))
        } catch {
            return .failure(error)
        }
    }

    /// After the closing bracket: nothing but white space (in a projection, the rest
    /// of its object).
    private func finish() throws(PerfLogError) {
        arrayState = .done
        if format == .projection {
            _ = try passMembers(untilKey: nil, first: false)
            return
        }
        if try skipSpace() { throw syntaxError("unexpected \(JSONParser.describe(buffer[pos])) after the array", at: pos) }
    }

    /// Reads until the element at `pos` is wholly in the buffer (or the input ends), so
    /// that the parser, which needs the whole value, runs once.
    private func bufferElement() throws(PerfLogError) {
        var scanner = JSONParser.ExtentScanner()
        var k = pos
        while true {
            if scanner.scan(UnsafeBufferPointer(buffer), from: k, to: filled) { return }
            k = filled
            if k - pos > ImportedEvents.maxLineBytes {
                let (line, _) = position(of: base + pos)
                throw .invalidInput(field: "element \(element + 1) (line \(line))", rule: "is longer than \(ImportedEvents.maxLineBytes) bytes")
            }
            let scanned = k - pos
            guard try refill() else { return }
            k = pos + scanned
        }
    }
}
