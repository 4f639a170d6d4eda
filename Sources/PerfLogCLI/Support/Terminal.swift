import PerfLog
import LMDB
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Unbuffered output to the standard streams.
///
/// Everything perflog prints goes through here with one `write(2)` per call, so a
/// batch of lines reaches a pipe reader (`perflog tail -f | …`) as soon as it is
/// printed, and a line is never split across two writes by stdio buffering.
enum Terminal {
    /// Writes `text` to standard output. A failed write ends the process: with 74 and a
    /// message (a full disk: output cut short must not look complete), or, when the
    /// reader has gone (a closed pipe, `perflog tail | head -1`), quietly with 141 as
    /// if by SIGPIPE, as git does.
    static func out(_ text: String) {
        if let code = write(text, to: STDOUT_FILENO) { standardOutputFailed(code) }
    }

    /// Ends the process after a failed write to standard output (see ``out(_:)``).
    static func standardOutputFailed(_ code: Int32) -> Never {
        if code == EPIPE { exitProcess(128 + SIGPIPE) }
        error("cannot write standard output: \(LMDBError.Code(rawValue: code))")
        exitProcess(ExitStatus.ioError.rawValue)
    }

    /// Writes `perflog: <message>` and a newline to standard error, on one line.
    static func error(_ message: String) { write("perflog: \(oneLine(message))\n", to: STDERR_FILENO) }

    /// Writes a status line (progress, not an error) and a newline to standard error.
    static func status(_ line: String) { write("\(oneLine(line))\n", to: STDERR_FILENO) }

    /// Writes `perflog: warning: <message>` and a newline to standard error, on one line.
    static func warning(_ message: String) { write("perflog: warning: \(oneLine(message))\n", to: STDERR_FILENO) }

    /// `text` with control characters made visible (`\n`, `\t`, `\u{1b}`), so that
    /// a message quoting user input stays on one line and cannot drive the terminal.
    static func oneLine(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: isControl) else { return text }
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where isControl(scalar): out += "\\u{" + String(scalar.value, radix: 16) + "}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    private static func isControl(_ s: Unicode.Scalar) -> Bool {
        s.value < 0x20 || (s.value >= 0x7F && s.value <= 0x9F)
    }

    /// Writes all of `text`, retrying after partial writes and interruptions.
    /// - Returns: `nil`, or the `errno` of a failure that dropped the rest (standard
    ///   error's are ignored: there is nowhere left to report them).
    @discardableResult
    static func write(_ text: String, to fd: Int32) -> Int32? {
        var text = text
        return text.withUTF8 { POSIXIO.writeAll(fd, UnsafeRawBufferPointer($0)) }
    }

    /// Ends the process with `status`. Nothing is buffered: every output went out
    /// with its own `write(2)`.
    static func exitProcess(_ status: Int32) -> Never {
        #if canImport(Glibc)
        Glibc.exit(status)
        #else
        Darwin.exit(status)
        #endif
    }
}

/// Waiting in polling loops.
enum Pause {
    /// Sleeps for `milliseconds`; returns early when a signal arrives, so that a
    /// polling loop notices a stop request at once.
    static func pause(milliseconds: Int) {
        var ts = timespec(tv_sec: milliseconds / 1000, tv_nsec: (milliseconds % 1000) * 1_000_000)
        _ = nanosleep(&ts, nil)
    }
}
