import LMDB
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `perflog.damaged` in a log directory: a note that some perflog process found the
/// log's data file damaged, so that writers refuse it without reading it again.
///
/// Finding damage is expensive (a page walk, or a reader that happened to touch the bad
/// page); refusing must be cheap, since `perflog record` runs once per measured
/// invocation: opening for writing costs one `stat` of this file when there is none.
///
/// The file holds `key=value` lines: `device` and `inode` of `data.mdb` when the damage
/// was found, `time` (seconds since the epoch) and `found` (what was found). A marker
/// whose identity is not the current `data.mdb`'s is stale (the file was replaced, e.g.
/// restored from a backup, or compacted) and is removed when read. The fault guard
/// (``FaultGuard``) writes the same format from its signal handler.
///
/// Writing this file is the only change perflog makes to a damaged log's directory.
public struct DamageMarker: Sendable, Hashable {
    /// The marker's name in the log directory.
    public static let fileName = "perflog.damaged"

    /// What was found.
    public var found: String
    /// When it was found, in seconds since the Unix epoch; `nil` when not recorded.
    public var timeSeconds: Int64?
    /// The data file's device and inode when it was found; `nil` when not recorded
    /// (the marker then counts as current).
    var device: UInt64?
    var inode: UInt64?

    /// The marker's path in the log at `directory`.
    public static func path(in directory: String) -> String { directory + "/" + fileName }

    /// The current marker of the log at `directory`, or `nil` when there is none. A
    /// stale marker (another `data.mdb` than the one it describes) is removed.
    public static func current(at directory: String) -> DamageMarker? {
        let markerPath = path(in: directory)
        var st = stat()
        guard stat(markerPath, &st) == 0 else { return nil }
        let marker = load(markerPath)
        if let device = marker.device, let inode = marker.inode {
            let data = DataFileIdentity(path: directory + "/data.mdb")
            if data?.device != device || data?.inode != inode {
                unlink(markerPath)
                return nil
            }
        }
        return marker
    }

    /// Records that the log at `directory` is damaged (replacing an earlier marker).
    /// Failures are ignored: the marker only saves later processes the work of finding
    /// the damage again.
    package static func record(at directory: String, found: String) {
        var text = ""
        if let id = DataFileIdentity(path: directory + "/data.mdb") { text += "device=\(id.device)\ninode=\(id.inode)\n" }
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        text += "time=\(now.tv_sec)\nfound=\(found.filter { $0 != "\n" && $0 != "\r" })\n"
        let fd = open(path(in: directory), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var bytes = Array(text.utf8)
        _ = bytes.withUnsafeMutableBytes { write(fd, $0.baseAddress, $0.count) }
    }

    /// Removes the marker of the log at `directory`, if any (`perflog check` found the
    /// file sound).
    /// - Returns: whether there was one.
    @discardableResult
    public static func remove(at directory: String) -> Bool { unlink(path(in: directory)) == 0 }

    /// When the marker says the damage was found, as ISO 8601 UTC.
    public var time: String? {
        timeSeconds.map { Timestamp.iso8601(unixNanoseconds: $0 &* 1_000_000_000, precision: .milliseconds) }
    }

    private static func load(_ markerPath: String) -> DamageMarker {
        var marker = DamageMarker(found: "an earlier perflog process found it damaged")
        let fd = open(markerPath, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { return marker }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { return marker }
        for line in String(decoding: buffer.prefix(n), as: UTF8.self).split(separator: "\n") {
            guard let eq = line.firstIndex(of: "=") else { continue }
            let key = line[..<eq], value = String(line[line.index(after: eq)...])
            switch key {
            case "device": marker.device = UInt64(value)
            case "inode": marker.inode = UInt64(value)
            case "time": marker.timeSeconds = Int64(value)
            case "found" where !value.isEmpty: marker.found = String(value.prefix(400))
            default: break
            }
        }
        return marker
    }
}

extension EventLog {
    /// Refuses to write a log that a perflog process found damaged (see
    /// ``DamageMarker``): one `stat` when there is no marker.
    /// - Throws: ``PerfLogError/knownDamaged(path:found:)``.
    static func refuseIfKnownDamaged(_ path: String) throws(PerfLogError) {
        if let marker = DamageMarker.current(at: path) {
            throw .knownDamaged(path: path, found: (marker.time.map { "at \($0): " } ?? "") + marker.found)
        }
    }

    /// What `error` says is damaged in the file, or `nil` when it is not about damage:
    /// a record that does not decode, or LMDB finding a page of the wrong type or
    /// missing.
    static func damage(in error: any Error) -> String? {
        switch error {
        case PerfLogError.corrupt(let what): return what
        case PerfLogError.damaged(_, let what): return what
        case let error as LMDBError where error.code == .corrupted || error.code == .pageNotFound:
            return error.context.map { "\($0): \(error.code)" } ?? "\(error.code)"
        case PerfLogError.storage(let error, let operation) where error.code == .corrupted || error.code == .pageNotFound:
            return "\(operation): \(error.code)"
        default: return nil
        }
    }

    /// Records the damage `error` reports (see ``DamageMarker``) and returns it as
    /// ``PerfLogError/damaged(path:what:)``; any other error is returned unchanged.
    func noteDamage(_ error: any Error) -> any Error {
        guard let what = EventLog.damage(in: error) else { return error }
        if case PerfLogError.damaged = error { return error }
        DamageMarker.record(at: path, found: what)
        return PerfLogError.damaged(path: path, what: what)
    }
}
