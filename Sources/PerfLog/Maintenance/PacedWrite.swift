import LMDB
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes a large file without leaving it all dirty in the page cache.
///
/// A producer (LMDB's `mdb_env_copyfd2`) writes into a pipe; a thread writes what comes
/// out into the file and flushes it (`fdatasync`) after each chunk. Why: on ext4 (and
/// other journalling file systems in ordered mode) a journal commit waits for every
/// dirty block allocated in it, so an `fdatasync` of any other file — a writer's
/// commit — waits behind a gigabyte of the copy flushed at once. Paced, it waits for
/// one chunk at most.
enum PacedWrite {
    /// How much of the file may be written and not yet flushed, in bytes.
    static let chunkBytes = 8 << 20

    /// How the consumer reads the pipe: `read(2)`, unless a test puts a failure in its way.
    typealias PipeRead = @Sendable (_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int

    /// Runs `produce` with the write end of a pipe, writing all it writes into `fd`
    /// from the file's start.
    /// - Throws: what `produce` throws; ``PerfLogError/storage(_:operation:)`` with the
    ///   `errno` of a failed `write`, or of a failed read of the pipe.
    static func run(into fd: Int32, readingPipeWith readPipe: @escaping PipeRead = { read($0, $1, $2) },
                    _ produce: (Int32) throws(PerfLogError) -> Void) throws(PerfLogError) {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { return try produce(fd) }
        let readEnd = ends[0], writeEnd = ends[1]
        // A larger pipe means fewer switches between the two threads.
        _ = fcntl(writeEnd, LinuxABI.setPipeSize, Int32(1 << 20))
        let failure = Failure()
        let consumer = WriterThread()
        // If the consumer stops early (a failed read of the pipe), it closes the read
        // end so that the producer's next write fails (EPIPE) instead of blocking on a
        // full pipe forever. SIGPIPE is blocked meanwhile so that this failure is an
        // error, not the end of the process; LMDB's copy thread inherits the mask.
        let masked = SignalMask.blockingPipe()
        consumer.start { PacedWrite.drain(readEnd, into: fd, failure, readPipe) }
        var produced: PerfLogError?
        do { try produce(writeEnd) } catch { produced = error }
        close(writeEnd)
        consumer.join()
        masked.restore()
        // The consumer's failure is the cause of any the producer then met.
        let code = failure.errno.load(ordering: .acquiring)
        if code != 0 {
            throw .storage(LMDBError(LMDBError.Code(rawValue: code), operation: "write"), operation: "compacting the log")
        }
        if let produced { throw produced }
    }

    /// The first `errno` the consumer met (0 for none).
    private final class Failure: Sendable {
        let errno = Atomic<Int32>(0)
    }

    /// The consumer: copies the pipe into the file, pacing it, until the producer closes
    /// its end, then closes the read end. After a failed write it goes on reading, so
    /// that the producer never blocks; after a failed read it stops (see ``run(into:_:)``).
    private static func drain(_ readEnd: Int32, into fd: Int32, _ failure: Failure, _ readPipe: PipeRead) {
        defer { close(readEnd) }
        let size = 1 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 4096)
        defer { buffer.deallocate() }
        var offset = 0      // bytes written
        var synced = 0      // bytes known to be on disk
        var failed = false
        while true {
            let n = POSIXIO.retryingInterrupts { readPipe(readEnd, buffer.baseAddress, size) }
            if n < 0 {
                failure.errno.store(errno, ordering: .releasing)
                break
            }
            if n == 0 { break }
            if failed { continue }
            if let code = POSIXIO.writeAll(fd, UnsafeRawBufferPointer(rebasing: buffer[..<n])) {
                failure.errno.store(code, ordering: .releasing)
                failed = true
            }
            offset += n
            if !failed && offset - synced >= chunkBytes {
                if fdatasync(fd) != 0 {
                    failure.errno.store(errno, ordering: .releasing)
                    failed = true
                }
                synced = offset
            }
        }
    }
}
