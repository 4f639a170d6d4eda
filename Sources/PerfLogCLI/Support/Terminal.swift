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
    /// Writes `text` to standard output.
    static func out(_ text: String) { write(text, to: STDOUT_FILENO) }

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

    /// Writes all of `text`, retrying after partial writes and interruptions. Other
    /// failures (a closed pipe with SIGPIPE ignored, a full disk) drop the rest: there
    /// is nowhere left to report them.
    static func write(_ text: String, to fd: Int32) {
        var text = text
        text.withUTF8 { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = systemWrite(fd, buffer.baseAddress.map { $0 + offset }, buffer.count - offset)
                if n > 0 {
                    offset += n
                } else if n < 0 && errno == EINTR {
                    continue
                } else {
                    return
                }
            }
        }
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

    private static func systemWrite(_ fd: Int32, _ bytes: UnsafePointer<UInt8>?, _ count: Int) -> Int {
        #if canImport(Glibc)
        Glibc.write(fd, bytes, count)
        #else
        Darwin.write(fd, bytes, count)
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
