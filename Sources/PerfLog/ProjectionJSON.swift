#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// agent-performance.json, schema version 1, written by hand into a byte buffer: a
// projection of 1M measures is ~130 MB of text, and building it through String or
// Foundation's encoder would cost several times the whole budget.
//
// Layout (fixed, so that equal projections give equal bytes):
//
//     {
//       "schemaVersion": 1,
//       "generatedAt": "2026-01-19T20:50:24.123Z",
//       "retain": 100,
//       "streams": [
//         { "agent": "planner", "cli": "claude", "count": 100, … },
//         …
//       ],
//       "comparisons": [
//         { "agent": "planner", "fastestCli": "codex", "byCli": [{ "cli": "codex", … }, …] }
//       ],
//       "measurements": [
//         { "agent": "planner", "cli": "claude", "duration": 812.413, "timestamp": "…", "success": true }
//       ]
//     }
//
// Two-space indentation; one record per line (greppable, and a diff shows which records
// changed), with `": "` and `", "` between tokens and spaces inside the record's braces
// as in DESIGN.md's example; an empty array is `[]`; the file ends with a newline. Keys
// in the order shown in ``Projection/jsonBytes``.
//
// Numbers: durations are milliseconds rounded to the microsecond (halves away from
// zero), written minimally without an exponent (`812.413`, `1000`, `0.001`,
// `10000000`); `relative`, `relativeUncertainty` and `pValue` are rounded to six
// decimals the same way (a p-value below 5e-7 shows as 0); figures that do not exist are
// `null`. Times are ISO 8601 UTC with milliseconds, truncated (``Timestamp``).
//
// generatedAt is the wall-clock time of the newest event (highest seq) the projection
// covers, not the time of writing: the wall clock would make two projections of the same
// log differ, and the file would have to be rewritten on every run. An empty log gives
// the Unix epoch.

extension Projection {
    /// `agent-performance.json` (schema version 1) as UTF-8 bytes, ending with a newline.
    ///
    /// Keys, in order: `schemaVersion`, `generatedAt`, `retain`, `streams`,
    /// `comparisons`, `measurements`. Each stream: `agent`, `cli`, `count`, `failures`,
    /// `inFlight`, `abandoned`, `meanMs`, `minMs`, `p50Ms`, `p90Ms`, `p99Ms`, `maxMs`,
    /// `stddevMs`, `firstAt`, `lastAt`, `p95Ms`, `outliers`. Each comparison: `agent`,
    /// `fastestCli`, `byCli` (each: `cli`, `meanMs`, `relative`, `relativeUncertainty`,
    /// `pValue`). Each measurement: `agent`, `cli`, `duration` (ms), `timestamp`,
    /// `success`. Equal projections give equal bytes.
    public var jsonBytes: [UInt8] {
        var out = JSONBuffer(capacity: 256 + streams.count * 480 + comparisons.count * 160 + measurements.count * 136)
        out.raw("{\n  \"schemaVersion\": 1,\n  \"generatedAt\": ")
        out.timestamp(generatedAtNs)
        out.raw(",\n  \"retain\": ")
        out.uint(UInt64(retain))
        out.raw(",\n  \"streams\": [")

        // Each stream's names, quoted once; measurements reuse them.
        var prefixes: [[UInt8]] = []
        prefixes.reserveCapacity(streams.count)
        for (i, s) in streams.enumerated() {
            var names = JSONBuffer(capacity: 64)
            names.raw("{ \"agent\": ")
            names.quoted(s.stream.agent)
            names.raw(", \"cli\": ")
            names.quoted(s.stream.cli)
            prefixes.append(names.bytes)

            out.raw(i == 0 ? "\n    " : ",\n    ")
            out.raw(names.bytes)
            out.raw(", \"count\": "); out.uint(UInt64(s.count))
            out.raw(", \"failures\": "); out.uint(UInt64(s.failures))
            out.raw(", \"inFlight\": "); out.uint(UInt64(s.inFlight))
            out.raw(", \"abandoned\": "); out.uint(UInt64(s.abandoned))
            let d = s.durations
            out.raw(", \"meanMs\": "); out.milliseconds(d?.meanNs)
            out.raw(", \"minMs\": "); out.milliseconds(d?.minNs)
            out.raw(", \"p50Ms\": "); out.milliseconds(d?.p50Ns)
            out.raw(", \"p90Ms\": "); out.milliseconds(d?.p90Ns)
            out.raw(", \"p99Ms\": "); out.milliseconds(d?.p99Ns)
            out.raw(", \"maxMs\": "); out.milliseconds(d?.maxNs)
            out.raw(", \"stddevMs\": "); out.milliseconds(d?.stddevNs)
            out.raw(", \"firstAt\": "); out.timestamp(s.firstAtNs)
            out.raw(", \"lastAt\": "); out.timestamp(s.lastAtNs)
            out.raw(", \"p95Ms\": "); out.milliseconds(d?.p95Ns)
            out.raw(", \"outliers\": "); out.uint(UInt64(d?.outliers ?? 0))
            out.raw(" }")
        }
        out.raw(streams.isEmpty ? "],\n  \"comparisons\": [" : "\n  ],\n  \"comparisons\": [")

        for (i, c) in comparisons.enumerated() {
            out.raw(i == 0 ? "\n    { \"agent\": " : ",\n    { \"agent\": ")
            out.quoted(c.agent)
            out.raw(", \"fastestCli\": ")
            if let f = c.fastestCli { out.quoted(f) } else { out.raw("null") }
            out.raw(", \"byCli\": [")
            for (j, e) in c.byCli.enumerated() {
                out.raw(j == 0 ? "{ \"cli\": " : ", { \"cli\": ")
                out.quoted(e.cli)
                out.raw(", \"meanMs\": "); out.milliseconds(e.meanNs)
                out.raw(", \"relative\": "); out.fixed6(e.relative)
                out.raw(", \"relativeUncertainty\": "); out.fixed6(e.relativeUncertainty)
                out.raw(", \"pValue\": "); out.fixed6(e.pValue)
                out.raw(" }")
            }
            out.raw("] }")
        }
        out.raw(comparisons.isEmpty ? "],\n  \"measurements\": [" : "\n  ],\n  \"measurements\": [")

        // Finding a measurement's stream: the projector records its index; a hand-built
        // or edited projection falls back to a lookup by name.
        var index: [StreamName: Int]?
        for (i, m) in measurements.enumerated() {
            var k = Int(m.streamIndex)
            if k < 0 || k >= streams.count || streams[k].stream != m.stream {
                if index == nil {
                    index = Dictionary(streams.enumerated().map { ($1.stream, $0) }, uniquingKeysWith: { a, _ in a })
                }
                k = index?[m.stream] ?? -1
            }
            out.raw(i == 0 ? "\n    " : ",\n    ")
            if k >= 0 {
                out.raw(prefixes[k])
            } else {
                out.raw("{ \"agent\": ")
                out.quoted(m.stream.agent)
                out.raw(", \"cli\": ")
                out.quoted(m.stream.cli)
            }
            out.raw(", \"duration\": ")
            out.milliseconds(nanoseconds: m.durationNs)
            out.raw(", \"timestamp\": ")
            out.timestamp(m.wallTimeNs)
            out.raw(m.outcome == .ok ? ", \"success\": true }" : ", \"success\": false }")
        }
        out.raw(measurements.isEmpty ? "]\n}\n" : "\n  ]\n}\n")
        return out.bytes
    }

    /// ``jsonBytes`` as a string.
    public var json: String { String(decoding: jsonBytes, as: UTF8.self) }
}

/// A growing buffer of JSON text, with the few writers the projection needs.
struct JSONBuffer {
    var bytes: [UInt8]
    /// The day of the last timestamp and its `YYYY-MM-DDT` text: consecutive
    /// measurements are mostly on the same day.
    private var cachedDay = Int64.min
    private var dayText: [UInt8] = []

    init(capacity: Int) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    @inline(__always)
    mutating func raw(_ s: StaticString) {
        s.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    @inline(__always)
    mutating func raw(_ b: [UInt8]) { bytes.append(contentsOf: b) }

    /// `s` as a JSON string: the same text as ``JSONText/quoted(_:)`` (escapes `"`, `\`
    /// and control characters; raw UTF-8 otherwise). Working on bytes is equivalent:
    /// every byte of a multi-byte UTF-8 sequence is 0x80 or above.
    mutating func quoted(_ s: String) {
        bytes.append(0x22)
        for b in s.utf8 {
            switch b {
            case 0x22: bytes.append(0x5C); bytes.append(0x22)
            case 0x5C: bytes.append(0x5C); bytes.append(0x5C)
            case 0..<0x20:
                raw("\\u00")
                bytes.append(hex(b >> 4))
                bytes.append(hex(b & 0xF))
            default: bytes.append(b)
            }
        }
        bytes.append(0x22)
    }

    @inline(__always)
    private func hex(_ v: UInt8) -> UInt8 { v < 10 ? 0x30 + v : 0x61 + v - 10 }

    /// `v` in decimal.
    mutating func uint(_ v: UInt64) {
        if v < 10 {
            bytes.append(0x30 + UInt8(v))
            return
        }
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: room for 20 digits
        withUnsafeMutableBytes(of: &digits) { buf in
            var i = buf.count, x = v
            while x > 0 {
                i -= 1
                buf[i] = 0x30 + UInt8(x % 10)
                x /= 10
            }
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: buf[i...]))
        }
    }

    /// `v / 10^places` minimally: the integer part, then, unless the fraction is 0, a
    /// point and the fraction without trailing zeros (as ``JSONText/decimal(_:scale:)``).
    mutating func decimal(_ v: UInt64, places: Int) {
        var scale: UInt64 = 1
        for _ in 0..<places { scale *= 10 }
        uint(v / scale)
        var fraction = v % scale
        guard fraction != 0 else { return }
        var width = places
        while fraction % 10 == 0 { fraction /= 10; width -= 1 }
        bytes.append(0x2E)
        var digits = 0, f = fraction
        while f > 0 { digits += 1; f /= 10 }
        for _ in 0..<(width - digits) { bytes.append(0x30) }
        uint(fraction)
    }

    /// An exact duration as milliseconds rounded to the microsecond (halves up), as
    /// ``JSONText/milliseconds(nanoseconds:)``.
    @inline(__always)
    mutating func milliseconds(nanoseconds ns: UInt64) {
        decimal(ns / 1000 + (ns % 1000 >= 500 ? 1 : 0), places: 3)
    }

    /// A computed duration in nanoseconds as milliseconds rounded to the microsecond
    /// (halves away from zero); `null` for `nil` or a value that is not finite.
    mutating func milliseconds(_ ns: Double?) {
        guard let ns, ns.isFinite else { raw("null"); return }
        decimal(JSONBuffer.clampedUInt((Swift.max(0, ns) / 1000).rounded(.toNearestOrAwayFromZero)), places: 3)
    }

    /// `v` (not negative) rounded to six decimals; `null` for `nil` or not finite.
    mutating func fixed6(_ v: Double?) {
        guard let v, v.isFinite else { raw("null"); return }
        decimal(JSONBuffer.clampedUInt((Swift.max(0, v) * 1_000_000).rounded(.toNearestOrAwayFromZero)), places: 6)
    }

    private static func clampedUInt(_ v: Double) -> UInt64 {
        v < 18_446_744_073_709_551_616.0 ? UInt64(v) : .max
    }

    /// A quoted ISO 8601 UTC time with milliseconds, or `null`.
    mutating func timestamp(_ ns: Int64?) {
        guard let ns else { raw("null"); return }
        timestamp(ns)
    }

    /// A quoted ISO 8601 UTC time with milliseconds: the same text as
    /// ``Timestamp/iso8601(unixNanoseconds:precision:)``.
    mutating func timestamp(_ ns: Int64) {
        let nsPerSecond: Int64 = 1_000_000_000
        var seconds = ns / nsPerSecond
        var subsecond = ns % nsPerSecond
        if subsecond < 0 { subsecond += nsPerSecond; seconds -= 1 }
        var day = seconds / 86_400
        var secondOfDay = seconds % 86_400
        if secondOfDay < 0 { secondOfDay += 86_400; day -= 1 }
        if day != cachedDay {
            let (year, month, dayOfMonth) = Timestamp.civilDate(daysSinceEpoch: day)
            guard year >= 0 && year <= 9999 else {
                // Outside four-digit years the general formatter decides the text.
                bytes.append(0x22)
                bytes.append(contentsOf: Timestamp.iso8601(unixNanoseconds: ns, precision: .milliseconds).utf8)
                bytes.append(0x22)
                return
            }
            cachedDay = day
            dayText = []
            digits(UInt64(year), 4, into: &dayText)
            dayText.append(0x2D)
            digits(UInt64(month), 2, into: &dayText)
            dayText.append(0x2D)
            digits(UInt64(dayOfMonth), 2, into: &dayText)
            dayText.append(0x54)
        }
        bytes.append(0x22)
        bytes.append(contentsOf: dayText)
        digits(UInt64(secondOfDay / 3600), 2, into: &bytes)
        bytes.append(0x3A)
        digits(UInt64(secondOfDay / 60 % 60), 2, into: &bytes)
        bytes.append(0x3A)
        digits(UInt64(secondOfDay % 60), 2, into: &bytes)
        bytes.append(0x2E)
        digits(UInt64(subsecond / 1_000_000), 3, into: &bytes)
        bytes.append(0x5A)
        bytes.append(0x22)
    }

    /// `v` in exactly `width` decimal digits (zero-padded; `v` fits).
    @inline(__always)
    private func digits(_ v: UInt64, _ width: Int, into out: inout [UInt8]) {
        var divisor: UInt64 = 1
        for _ in 1..<width { divisor *= 10 }
        var v = v
        while divisor > 0 {
            out.append(0x30 + UInt8(v / divisor))
            v %= divisor
            divisor /= 10
        }
    }
}

// MARK: Writing the file

/// Writing `agent-performance.json` failed: `operation` says which step, `code` is the
/// `errno` (e.g. `ENOSPC`, `EACCES`, `ENOENT` for a missing directory). The previous
/// file, if any, is untouched.
public struct ProjectionWriteError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The file being written.
    public var path: String
    /// The step that failed, e.g. `creating a temporary file`.
    public var operation: String
    /// The `errno` value.
    public var code: Int32

    /// Wraps the fields.
    public init(path: String, operation: String, code: Int32) {
        self.path = path
        self.operation = operation
        self.code = code
    }

    /// One line: the path, the step and the system's message.
    public var description: String {
        "cannot write \(path): \(operation) failed: \(String(cString: strerror(code)))"
    }
}

extension Projector {
    /// What ``write(log:to:now:force:options:)`` did.
    public enum WriteResult: Sendable, Hashable {
        /// The file was (re)written.
        case written
        /// The file already held this projection; it was not touched.
        case unchanged
    }

    /// Writes the projection of the whole log to `path` (`agent-performance.json`),
    /// atomically and only when it would change.
    ///
    /// The file is replaced atomically: the text goes to a temporary file in the same
    /// directory, which is flushed (`fsync`) and renamed over `path`; then the directory
    /// is flushed. A reader sees the old file or the new one, never a mix, and a crash
    /// leaves one of them.
    ///
    /// Unless `force` is set, nothing is written when the file already holds what a
    /// projection would write. A writable log remembers, in a checkpoint stored in the
    /// log (its own small write transaction after the rename), the state it last
    /// projected to this path: when the log has had no commit since, no more open mark
    /// has become abandoned, and the file is the one written then (same device, inode,
    /// size and modification time), the call returns ``WriteResult/unchanged`` without
    /// projecting. Otherwise the projection is made and compared with the file's bytes.
    /// A read-only log cannot store a checkpoint and always compares bytes.
    ///
    /// - Parameters:
    ///   - path: the file to write; its directory must exist.
    ///   - now: the time to judge abandoned marks against, nanoseconds since the Unix
    ///     epoch (the file's content depends on it only through `abandoned`).
    ///   - force: write even when unchanged.
    /// - Throws: ``PerfLogError`` when the log cannot be read;
    ///   ``ProjectionWriteError`` when the file cannot be written (the old file is then
    ///   left as it was). A failure to store the checkpoint is not an error: the file is
    ///   right, and the next call merely projects again.
    @discardableResult
    public static func write(
        log: EventLog, to path: String, now: Int64 = EventClock.wallNs(), force: Bool = false,
        options: Options = Options()
    ) throws -> WriteResult {
        // A device or FIFO is written every time: it cannot be compared, and a reader
        // waits on it.
        var force = force
        var direct = false
        if case .direct = OutputPath.resolve(path) { (force, direct) = (true, true) }
        let key = ProjectionCheckpoint.key(for: canonicalPath(path))
        let optionBits: UInt32 = options.measurements ? 1 : 0
        let cutoff = Statistics.abandonmentCutoff(now: now, abandonAfterNs: options.abandonAfterNs)

        let snapshot: (projection: Projection, abandoned: UInt64)? = try log.read { r in
            let abandoned = UInt64(try r.openMarkHeads().reduce(0) { $0 + ($1.head.wallTimeNs < cutoff ? 1 : 0) })
            if !force, let saved = try r.projectionCheckpoint(key), let file = fileIdentity(path: path),
               saved == ProjectionCheckpoint(options: optionBits, abandonAfterNs: options.abandonAfterNs,
                                             lastSeq: try r.lastSeq(), abandoned: abandoned, file: file) {
                return nil
            }
            return (try project(r, now: now, options: options), abandoned)
        }
        guard let (projection, abandoned) = snapshot else { return .unchanged }
        let bytes = projection.jsonBytes

        func checkpoint(_ file: FileIdentity) {
            guard !log.isReadOnly, !direct else { return }
            let saved = ProjectionCheckpoint(options: optionBits, abandonAfterNs: options.abandonAfterNs,
                                             lastSeq: projection.lastSeq, abandoned: abandoned, file: file)
            // Not fatal: without a checkpoint the next call compares bytes instead.
            try? log.storeProjectionCheckpoint(saved, key: key)
        }
        if !force, let file = identityIfHolds(bytes, path: path) {
            checkpoint(file)
            return .unchanged
        }
        checkpoint(try writeAtomically(bytes, to: path))
        return .written
    }

    /// `path` with its directory resolved (`realpath`), so that one file has one
    /// checkpoint whatever the working directory; `path` itself when that fails.
    static func canonicalPath(_ path: String) -> String {
        let (directory, name) = split(path)
        guard let resolved = realpath(directory, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved) + "/" + name
    }

    /// The directory and the file name of `path`.
    private static func split(_ path: String) -> (directory: String, name: String) {
        guard let slash = path.utf8.lastIndex(of: 0x2F) else { return (".", path) }
        let directory = String(path[..<slash])
        return (directory.isEmpty ? "/" : directory, String(path[path.index(after: slash)...]))
    }

    private static func identity(_ st: stat) -> FileIdentity {
        #if canImport(Darwin)
        let mtime = st.st_mtimespec
        #else
        let mtime = st.st_mtim
        #endif
        return FileIdentity(device: UInt64(truncatingIfNeeded: st.st_dev), inode: UInt64(truncatingIfNeeded: st.st_ino),
                            size: UInt64(truncatingIfNeeded: st.st_size), modifiedSeconds: Int64(mtime.tv_sec),
                            modifiedNanoseconds: Int64(mtime.tv_nsec))
    }

    static func fileIdentity(path: String) -> FileIdentity? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return identity(st)
    }

    /// The identity of the file at `path` when it holds exactly `bytes`; `nil` when it
    /// differs or cannot be read. Stops at the first differing block.
    private static func identityIfHolds(_ bytes: [UInt8], path: String) -> FileIdentity? {
        // Non-blocking: opening a FIFO to read would wait for a writer.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, Int(st.st_size) == bytes.count else { return nil }
        var block = [UInt8](repeating: 0, count: 1 << 20)
        var offset = 0
        while offset < bytes.count {
            let n = block.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0, offset + n <= bytes.count else { return nil }
            let same = bytes.withUnsafeBytes { all in
                block.withUnsafeBytes { memcmp(all.baseAddress! + offset, $0.baseAddress!, n) == 0 }
            }
            guard same else { return nil }
            offset += n
        }
        return identity(st)
    }

    /// Writes `bytes` to `path` by ``OutputPath``'s rules: for a file, to a temporary
    /// file beside it (beside a link's target), flushed and renamed over it, then the
    /// directory flushed; a device or FIFO is written directly. Returns the identity of
    /// what was written.
    private static func writeAtomically(_ bytes: [UInt8], to path: String) throws(ProjectionWriteError) -> FileIdentity {
        func failure(_ operation: String, _ code: Int32 = errno) -> ProjectionWriteError {
            ProjectionWriteError(path: path, operation: operation, code: code)
        }
        let target: String, existing: stat?
        switch OutputPath.resolve(path) {
        case .directory: throw failure("writing", EISDIR)
        case .direct(let device):
            let fd = open(device, O_WRONLY | O_CLOEXEC)
            guard fd >= 0 else { throw failure("opening") }
            defer { close(fd) }
            var offset = 0
            while offset < bytes.count {
                let n = bytes.withUnsafeBytes { posixWrite(fd, $0.baseAddress! + offset, $0.count - offset) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw failure("writing", n < 0 ? errno : EIO) }
                offset += n
            }
            var st = stat()
            guard fstat(fd, &st) == 0 else { throw failure("fstat") }
            return identity(st)
        case .replace(let t, let e): (target, existing) = (t, e)
        }
        let (directory, name) = split(target)
        var random = SystemRandomNumberGenerator()
        let temporary = directory + "/." + name + ".tmp-" + String(getpid()) + "-" + String(random.next() & 0xFFFF_FFFF, radix: 16)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, FileModes.newFile(in: directory))
        guard fd >= 0 else { throw failure("creating a temporary file in \(directory)") }
        OutputPath.keepMode(of: existing, on: fd)
        var isOpen = true
        defer {
            if isOpen { close(fd) }
        }
        do throws(ProjectionWriteError) {
            var offset = 0
            while offset < bytes.count {
                let n = bytes.withUnsafeBytes { posixWrite(fd, $0.baseAddress! + offset, $0.count - offset) }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw failure("writing")
                }
                offset += n
            }
            guard fsync(fd) == 0 else { throw failure("flushing (fsync)") }
            var st = stat()
            guard fstat(fd, &st) == 0 else { throw failure("fstat") }
            isOpen = false
            guard close(fd) == 0 else { throw failure("closing") }
            guard rename(temporary, target) == 0 else { throw failure("renaming into place") }
            let dir = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if dir >= 0 {
                // The rename is durable only once the directory is flushed; a file system
                // that cannot flush a directory still has the file in place.
                _ = fsync(dir)
                close(dir)
            }
            return identity(st)
        } catch {
            unlink(temporary)
            throw error
        }
    }
}

/// `write(2)`; a free function because ``Projector/write(log:to:now:force:options:)``
/// hides the name inside `Projector`.
private func posixWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    write(fd, buffer, count)
}
