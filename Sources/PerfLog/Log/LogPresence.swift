#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension EventLog {
    /// Whether the log directory `path` has a data file to look at, without opening it:
    /// a non-empty `data.mdb`, or something there that is not a regular file (opening
    /// the log then says what it is). An empty file is what a creation cut short leaves.
    public static func hasDataFile(in path: String) -> Bool {
        var st = stat()
        guard stat(path + "/data.mdb", &st) == 0 else { return false }
        return (st.st_mode & S_IFMT) != S_IFREG || st.st_size > 0
    }

    /// The size of the data file of the log directory `path`, in bytes; 0 when it has none.
    public static func dataFileSize(in path: String) -> Int {
        var st = stat()
        return stat(path + "/data.mdb", &st) == 0 ? Int(st.st_size) : 0
    }
}
