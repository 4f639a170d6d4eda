#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An LMDB data file opened for reading with `pread` (never mapped), so that a damaged
/// page can be looked at without anything following it. Each system call the page
/// checks make is here, once.
final class DataFile {
    let fd: Int32
    let path: String

    /// Opens `path` read-only.
    /// - Throws: `LMDBError` with the `errno` of `open`; `MDB_INVALID` when `path` is not
    ///   a regular file.
    init(path: String) throws(LMDBError) {
        self.path = path
        var fd: Int32
        // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
        repeat { fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK) } while fd < 0 && errno == EINTR
        guard fd >= 0 else { throw LMDBError(LMDBError.Code(rawValue: errno), operation: "open", context: path) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            DataFile.close(fd)
            throw LMDBError(.invalid, operation: "open", context: "\(path) is not a regular file")
        }
        self.fd = fd
    }

    /// Refuses the files of an environment in `directory` that exist and are not regular
    /// files: LMDB's own `open` of a FIFO there would wait forever, and of a device would
    /// map it.
    /// - Throws: `MDB_INVALID` whose context is `"NAME is not a regular file"`.
    static func requireRegularFiles(in directory: String) throws(LMDBError) {
        for name in ["data.mdb", "lock.mdb"] {
            var st = stat()
            let path = directory + "/" + name
            if stat(path, &st) == 0 && (st.st_mode & S_IFMT) != S_IFREG {
                throw LMDBError(.invalid, operation: "mdb_env_open", context: "\(name) is not a regular file")
            }
        }
    }

    deinit { DataFile.close(fd) }

    /// The one `close(2)` of the module's own descriptors.
    static func close(_ fd: Int32) {
        #if canImport(Glibc)
        _ = Glibc.close(fd)
        #else
        _ = Darwin.close(fd)
        #endif
    }

    /// The file's size in bytes (`fstat`).
    /// - Throws: `LMDBError` with the `errno` of `fstat`.
    func size() throws(LMDBError) -> Int {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw LMDBError(LMDBError.Code(rawValue: errno), operation: "fstat", context: path) }
        return Int(st.st_size)
    }

    /// Reads `buffer.count` bytes at byte `offset`, fewer only at the end of the file;
    /// returns how many were read.
    /// - Throws: `LMDBError` with the `errno` of `pread`.
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws(LMDBError) -> Int {
        var done = 0
        while done < buffer.count {
            let n = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
            if n > 0 {
                done += n
            } else if n == 0 {
                break
            } else if errno != EINTR {
                throw LMDBError(LMDBError.Code(rawValue: errno), operation: "pread", context: path)
            }
        }
        return done
    }

    /// Reads into all of `bytes` at byte `offset` (see ``read(into:at:)``).
    func read(into bytes: inout [UInt8], at offset: Int) throws(LMDBError) -> Int {
        let result: Result<Int, LMDBError> = bytes.withUnsafeMutableBytes { b in
            Result { () throws(LMDBError) in try read(into: b, at: offset) }
        }
        return try result.get()
    }
}
