import Foundation
import LMDB
import PerfLogTestSupport
import Synchronization
import Testing
@testable import PerfLog

/// The copy of a compaction goes through a pipe into its file (PacedWrite): whatever
/// fails on either side, the producer never blocks on a full pipe, the process is not
/// killed by SIGPIPE, and the failure is reported with its errno.
@Suite("Paced write")
struct PacedWriteTests {
    /// Writes `bytes` of a pattern into `fd` (as LMDB's copy writes the pipe).
    static func produce(_ bytes: Int) -> (Int32) throws(PerfLogError) -> Void {
        { fd throws(PerfLogError) in
            let chunk = [UInt8](repeating: 0x5A, count: 1 << 16)
            var left = bytes
            while left > 0 {
                let n = min(left, chunk.count)
                if let code = chunk.withUnsafeBytes({ POSIXIO.writeAll(fd, UnsafeRawBufferPointer(rebasing: $0[..<n])) }) {
                    throw .storage(LMDBError(LMDBError.Code(rawValue: code), operation: "write"), operation: "producing")
                }
                left -= n
            }
        }
    }

    func errnoOf(_ error: PerfLogError) -> Int32? {
        if case .storage(let lmdb, _) = error { return lmdb.code.rawValue }
        return nil
    }

    @Test("everything produced reaches the file, past several flushed chunks")
    func copies() throws {
        let dir = try TemporaryDirectory()
        let fd = open(dir.path + "/copy", O_RDWR | O_CREAT, 0o600)
        try #require(fd >= 0)
        defer { close(fd) }
        let size = PacedWrite.chunkBytes * 2 + 12_345
        try PacedWrite.run(into: fd, Self.produce(size))
        var st = stat()
        #expect(fstat(fd, &st) == 0 && Int(st.st_size) == size)
    }

    @Test("a failed read of the pipe stops the copy with its errno; the producer gets EPIPE, not a block or a SIGPIPE")
    func readFailure() throws {
        let dir = try TemporaryDirectory()
        let fd = open(dir.path + "/copy", O_RDWR | O_CREAT, 0o600)
        try #require(fd >= 0)
        defer { close(fd) }
        let reads = Atomic<Int>(0)
        // The third read fails; by then the producer has far more to write than a pipe holds.
        let failing: PacedWrite.PipeRead = { fd, buffer, count in
            if reads.add(1, ordering: .relaxed).newValue == 3 { errno = EIO; return -1 }
            return read(fd, buffer, count)
        }
        var caught: PerfLogError?
        do { try PacedWrite.run(into: fd, readingPipeWith: failing, Self.produce(64 << 20)) } catch { caught = error }
        let error = try #require(caught)
        // The consumer's failure is reported, not the EPIPE it caused.
        #expect(errnoOf(error) == EIO)
        #expect(reads.load(ordering: .relaxed) == 3)
    }

    @Test("a failed write of the file is reported with its errno, and the producer is drained to its end")
    func writeFailure() throws {
        let full = open("/dev/full", O_WRONLY)
        try #require(full >= 0, "this test needs /dev/full")
        defer { close(full) }
        var caught: PerfLogError?
        var produced = false
        do {
            try PacedWrite.run(into: full) { fd throws(PerfLogError) in
                try Self.produce(16 << 20)(fd)
                produced = true
            }
        } catch { caught = error }
        #expect(produced)
        #expect(caught.flatMap(errnoOf) == ENOSPC)
    }
}
