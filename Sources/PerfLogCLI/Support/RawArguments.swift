#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The command line as the bytes the process was given.
///
/// Swift's `CommandLine.arguments` repairs invalid UTF-8 into U+FFFD, so that two
/// different bad names would become one stream: perflog refuses such arguments instead,
/// and passes the command after `exec --` on with its bytes as they were.
///
/// The bytes are read where the process was given them, without copies into arrays of
/// arrays: every `perflog record` checks its arguments, and the runtime would build the
/// metadata of such an array from its mangled name at first use.
enum RawArguments {
    /// The number of arguments after the program's name.
    static var count: Int { max(0, Int(CommandLine.argc) - 1) }

    /// The bytes of argument `i` (1 is the first after the program's name), valid for
    /// the life of the process.
    static func argument(_ i: Int) -> UnsafeBufferPointer<UInt8> {
        guard i >= 1, i <= count, let p = CommandLine.unsafeArgv[i] else { return UnsafeBufferPointer(start: nil, count: 0) }
        return UnsafeBufferPointer(start: UnsafeRawPointer(p).assumingMemoryBound(to: UInt8.self), count: strlen(p))
    }

    /// The first argument perflog reads that is not valid UTF-8, as a usage line; `nil`
    /// when there is none. The command after `exec`'s `--` is not perflog's to read.
    static func invalidArgument() -> String? {
        // As Swift decoded them: an argument that is not valid UTF-8 comes out repaired,
        // so its bytes differ from what the process was given.
        let decoded = Array(CommandLine.arguments.dropFirst())
        guard decoded.count == count else { return nil }
        // Global options may come before the subcommand (see GlobalOptions).
        let leading = GlobalOptions.leadingCount(decoded)
        let isExec = decoded.dropFirst(leading).first == "exec"
        for (k, argument) in decoded.enumerated() {
            if isExec && argument == "--" { return nil }
            let bytes = Self.argument(k + 1)
            guard !argument.utf8.elementsEqual(bytes) else { continue }
            var shown = ""
            for b in bytes {
                if b >= 0x20 && b < 0x7F && b != UInt8(ascii: "\\") {
                    shown.unicodeScalars.append(Unicode.Scalar(b))
                } else {
                    shown += "\\x" + (b < 16 ? "0" : "") + String(b, radix: 16, uppercase: true)
                }
            }
            return "argument \(k + 1) ('\(shown)') is not valid UTF-8; names and values must be UTF-8"
        }
        return nil
    }

    /// Calls `body` with the bytes of each of `arguments`, in order; they end the command
    /// line: the raw bytes the process was given for them when they are its last
    /// arguments (as the command after `exec --` is), else their UTF-8.
    static func forEachTrailing(_ arguments: [String], _ body: (UnsafeBufferPointer<UInt8>) -> Void) {
        let first = count - arguments.count + 1
        let raw = first >= 1 && arguments.indices.allSatisfy { String(decoding: argument(first + $0), as: UTF8.self) == arguments[$0] }
        for k in arguments.indices {
            if raw {
                body(argument(first + k))
            } else {
                var copy = arguments[k]
                copy.withUTF8(body)
            }
        }
    }
}
