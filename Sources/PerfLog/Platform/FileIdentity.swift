#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The device and inode of a file: a compaction replaces `data.mdb` with a new file,
/// and a process notices by comparing this.
struct DataFileIdentity: Hashable, Sendable {
    var device: UInt64
    var inode: UInt64

    init?(path: String) {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        device = UInt64(st.st_dev)
        inode = UInt64(st.st_ino)
    }
}

/// The identity and version of a file as `stat` reports them.
struct FileIdentity: Hashable {
    var device: UInt64
    var inode: UInt64
    var size: UInt64
    var modifiedSeconds: Int64
    var modifiedNanoseconds: Int64
}
