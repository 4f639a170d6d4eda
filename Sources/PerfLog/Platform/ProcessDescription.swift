import LMDB
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A few words about a process for a message: its name and first argument unless that
/// is an option (`perflog import`), and whether it is stopped (from `/proc`; `nil`
/// elsewhere or when it is gone).
enum ProcessDescription {
    static func of(_ pid: Int32) -> String? {
        #if os(Linux)
        guard let cmdline = read("/proc/\(pid)/cmdline"), !cmdline.isEmpty else { return nil }
        var words = cmdline.split(separator: 0, omittingEmptySubsequences: true).prefix(2).map { word -> String in
            var text = String(decoding: word.prefix(64), as: UTF8.self)
            if let slash = text.lastIndex(of: "/") { text = String(text[text.index(after: slash)...]) }
            return String(text.unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7F }.map(Character.init))
        }
        if words.count == 2, words[1].hasPrefix("-") || words[1].isEmpty { words.removeLast() }
        var about = words.joined(separator: " ")
        // /proc/PID/stat: "pid (comm) S …"; the state follows the last ')'.
        if let stat = read("/proc/\(pid)/stat"), let close = stat.lastIndex(of: UInt8(ascii: ")")), close + 2 < stat.count {
            switch stat[close + 2] {
            case UInt8(ascii: "T"): about += ", stopped"
            case UInt8(ascii: "t"): about += ", stopped by a debugger"
            case UInt8(ascii: "D"): about += ", waiting on a device"
            default: break
            }
        }
        return about.isEmpty ? nil : about
        #else
        return nil
        #endif
    }

    #if os(Linux)
    private static func read(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 4096)
        let n = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { return nil }
        return Array(bytes[..<n])
    }
    #endif
}
