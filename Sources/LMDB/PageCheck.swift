#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension Environment {
    /// Checks the structure of every page of `directory/data.mdb` by reading the file
    /// (never mapping it), so that a damaged file is reported before LMDB follows a bad
    /// pointer: each used page must carry its own number, known flags, and bounds and
    /// node offsets inside the page; overflow runs are skipped whole. This catches
    /// overwritten or truncated files; it does not prove the B-trees consistent.
    ///
    /// Pages past the last one the newer meta page names are not checked (they are
    /// free space).
    /// - Throws: `LMDBError` with `MDB_CORRUPTED` naming the first bad page, or the
    ///   `errno` of reading the file.
    public static func checkPages(in directory: String) throws(LMDBError) {
        let path = directory + "/data.mdb"
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw LMDBError(LMDBError.Code(rawValue: errno), operation: "open", context: path) }
        defer { _ = closeFile(fd) }

        // The two meta pages: page size from the first (mm_psize sits in the environment
        // info inside the meta), last page number from the one with the newer txnid.
        var head = [UInt8](repeating: 0, count: 2 * 4096)
        let n = head.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n >= 2 * 136 else { throw corrupted(path, "shorter than its meta pages") }
        func u64(_ b: [UInt8], _ at: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(b[at + $1]) << (8 * $1) } }
        func u32(_ b: [UInt8], _ at: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(b[at + $1]) << (8 * $1) } }
        func u16(_ b: UnsafeRawBufferPointer, _ at: Int) -> Int { Int(b[at]) | Int(b[at + 1]) << 8 }
        // MDB_meta after the 16-byte page header: magic(4) version(4) address(8) mapsize(8)
        // then two MDB_db (48 bytes each): the free DB's md_pad holds the page size.
        let metaOffset = 16
        guard u32(head, metaOffset) == 0xBEEF_C0DE else { throw corrupted(path, "the first meta page has no LMDB magic") }
        let pageSize = Int(u32(head, metaOffset + 24))
        guard pageSize >= 512, pageSize <= 65536, pageSize & (pageSize - 1) == 0 else {
            throw corrupted(path, "page size \(pageSize) is impossible")
        }
        var meta2 = [UInt8](repeating: 0, count: 256)
        _ = meta2.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(pageSize)) }
        let dbsEnd = metaOffset + 24 + 2 * 48
        let lastPage0 = u64(head, dbsEnd), txn0 = u64(head, dbsEnd + 8)
        let lastPage1 = u64(meta2, dbsEnd), txn1 = u64(meta2, dbsEnd + 8)
        let lastPage = Int(txn1 > txn0 && u32(meta2, metaOffset) == 0xBEEF_C0DE ? lastPage1 : lastPage0)

        var st = stat()
        guard fstat(fd, &st) == 0 else { throw LMDBError(LMDBError.Code(rawValue: errno), operation: "fstat", context: path) }
        guard Int(st.st_size) >= (lastPage + 1) * pageSize else {
            throw corrupted(path, "shorter than its last page \(lastPage) (truncated)")
        }

        let chunkPages = max(1, (1 << 20) / pageSize)
        var buffer = [UInt8](repeating: 0, count: chunkPages * pageSize)
        var page = 2
        var skipUntil = 0
        while page <= lastPage {
            let count = min(chunkPages, lastPage + 1 - page)
            let read = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count * pageSize, off_t(page * pageSize)) }
            guard read == count * pageSize else { throw corrupted(path, "page \(page) cannot be read") }
            let checked: Result<Void, LMDBError> = buffer.withUnsafeBytes { all in Result { () throws(LMDBError) in
                for i in 0..<count {
                    let number = page + i
                    if number < skipUntil { continue }
                    let p = UnsafeRawBufferPointer(rebasing: all[(i * pageSize)..<((i + 1) * pageSize)])
                    let pgno = p.loadUnaligned(fromByteOffset: 0, as: UInt64.self).littleEndian
                    let flags = u16(p, 10)
                    guard pgno == UInt64(number) else {
                        throw corrupted(path, "page \(number) says it is page \(pgno)")
                    }
                    // P_BRANCH 0x01, P_LEAF 0x02, P_OVERFLOW 0x04, P_META 0x08, P_DIRTY 0x10,
                    // P_LEAF2 0x20, P_SUBP 0x40, P_LOOSE 0x4000, P_KEEP 0x8000.
                    guard flags & ~0xC07F == 0 else { throw corrupted(path, "page \(number) has unknown flags \(flags)") }
                    if flags & 0x04 != 0 {
                        let pages = Int(p.loadUnaligned(fromByteOffset: 12, as: UInt32.self).littleEndian)
                        guard pages >= 1, number + pages <= lastPage + 1 else {
                            throw corrupted(path, "overflow page \(number) claims \(pages) pages")
                        }
                        skipUntil = number + pages
                        continue
                    }
                    guard flags & 0x03 != 0 else { continue }  // a free or meta-like page: nothing to follow
                    let lower = u16(p, 12), upper = u16(p, 14)
                    guard lower >= 16, lower <= upper, upper <= pageSize, (lower - 16) % 2 == 0 else {
                        throw corrupted(path, "page \(number) has bounds \(lower)…\(upper)")
                    }
                    if flags & 0x20 != 0 { continue }  // LEAF2 pages hold fixed-size keys, no offsets
                    for k in 0..<((lower - 16) / 2) {
                        let offset = u16(p, 16 + 2 * k)
                        guard offset >= upper, offset + 8 <= pageSize else {
                            throw corrupted(path, "page \(number) has a node at offset \(offset)")
                        }
                    }
                }
            } }
            try checked.get()
            page += count
        }
    }

    private static func corrupted(_ path: String, _ what: String) -> LMDBError {
        LMDBError(.corrupted, operation: "check", context: "\(path): \(what)")
    }

    private static func closeFile(_ fd: Int32) -> Int32 {
        #if canImport(Glibc)
        return Glibc.close(fd)
        #else
        return Darwin.close(fd)
        #endif
    }
}
