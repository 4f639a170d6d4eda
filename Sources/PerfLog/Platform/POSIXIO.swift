#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// System calls retried after an interruption, and the loops that read or write a
/// whole buffer: the one place perflog handles `EINTR` and partial transfers.
package enum POSIXIO {
    /// Runs `call`, a system call that returns -1 and sets `errno` when it fails, again
    /// for as long as it fails with `EINTR` (a signal arrived before it did anything).
    /// - Returns: the last call's result; `errno` still holds its error when it is -1.
    @inline(__always)
    package static func retryingInterrupts<R: FixedWidthInteger>(_ call: () -> R) -> R {
        while true {
            let result = call()
            if result != -1 || errno != EINTR { return result }
        }
    }

    /// Writes all of `bytes` to `fd` at its file offset, retrying partial writes and
    /// interruptions.
    /// - Returns: `nil` when everything was written, else the `errno` of the failure
    ///   (`EIO` for a write that wrote nothing); part of `bytes` may have been written.
    package static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Int32? {
        transferAll(bytes.count) { done in systemWrite(fd, bytes.baseAddress! + done, bytes.count - done) }
    }

    /// Writes all of `bytes` to `fd` from byte `offset` of the file (`pwrite`, which
    /// leaves the file offset alone); see ``writeAll(_:_:)``.
    package static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int64) -> Int32? {
        transferAll(bytes.count) { done in
            pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset + Int64(done)))
        }
    }

    /// Reads `fd` to its end (or until more than `limit` bytes are in), `chunkBytes` at a
    /// time, retrying interruptions.
    /// - Returns: what was read and, when a read failed, its `errno` (the bytes are then
    ///   those read before it).
    package static func readAll(
        _ fd: Int32, chunkBytes: Int = 1 << 16, limit: Int = .max
    ) -> (bytes: [UInt8], failure: Int32?) {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: chunkBytes)
        while bytes.count <= limit {
            let n = chunk.withUnsafeMutableBytes { c in retryingInterrupts { systemRead(fd, c.baseAddress, c.count) } }
            if n < 0 { return (bytes, errno) }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        return (bytes, nil)
    }

    /// Calls `step` with the bytes done so far until `count` are, retrying interruptions.
    private static func transferAll(_ count: Int, _ step: (Int) -> Int) -> Int32? {
        var done = 0
        while done < count {
            let n = retryingInterrupts { step(done) }
            guard n > 0 else { return n < 0 ? errno : EIO }
            done += n
        }
        return nil
    }
}

/// `write(2)`, by a name that types with a `write` method of their own can still call.
func systemWrite(_ fd: Int32, _ buffer: UnsafeRawPointer?, _ count: Int) -> Int {
    #if canImport(Glibc)
    Glibc.write(fd, buffer, count)
    #else
    Darwin.write(fd, buffer, count)
    #endif
}

/// `close(2)`, likewise.
func systemClose(_ fd: Int32) -> Int32 {
    #if canImport(Glibc)
    Glibc.close(fd)
    #else
    Darwin.close(fd)
    #endif
}

/// `read(2)`, likewise.
func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
    #if canImport(Glibc)
    Glibc.read(fd, buffer, count)
    #else
    Darwin.read(fd, buffer, count)
    #endif
}
