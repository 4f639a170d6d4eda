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
enum RawArguments {
    /// `argv[1...]`, byte for byte.
    static let all: [[UInt8]] = (1..<max(1, Int(CommandLine.argc))).map { i in
        guard let p = CommandLine.unsafeArgv[i] else { return [] }
        return Array(UnsafeBufferPointer(start: UnsafeRawPointer(p).assumingMemoryBound(to: UInt8.self), count: strlen(p)))
    }

    /// The first argument perflog reads that is not valid UTF-8, as a usage line; `nil`
    /// when there is none. The command after `exec`'s `--` is not perflog's to read.
    static func invalidArgument(_ arguments: [[UInt8]] = all) -> String? {
        // Global options may come before the subcommand (see GlobalOptions).
        let leading = GlobalOptions.leadingCount(arguments.map { String(decoding: $0, as: UTF8.self) })
        let isExec = arguments.dropFirst(leading).first == Array("exec".utf8)
        for (i, argument) in arguments.enumerated() {
            if isExec && argument == Array("--".utf8) { return nil }
            guard String(validating: argument, as: UTF8.self) == nil else { continue }
            var shown = ""
            for b in argument {
                if b >= 0x20 && b < 0x7F && b != UInt8(ascii: "\\") {
                    shown.unicodeScalars.append(Unicode.Scalar(b))
                } else {
                    shown += "\\x" + (b < 16 ? "0" : "") + String(b, radix: 16, uppercase: true)
                }
            }
            return "argument \(i + 1) ('\(shown)') is not valid UTF-8; names and values must be UTF-8"
        }
        return nil
    }

    /// The bytes of `arguments`, which end the command line: the raw bytes the process
    /// was given for them when they are its last arguments (as the command after
    /// `exec --` is), else their UTF-8.
    static func bytes(ofTrailing arguments: [String]) -> [[UInt8]] {
        let raw = all.suffix(arguments.count)
        guard raw.count == arguments.count,
              zip(raw, arguments).allSatisfy({ String(decoding: $0, as: UTF8.self) == $1 }) else {
            return arguments.map { Array($0.utf8) }
        }
        return Array(raw)
    }
}
