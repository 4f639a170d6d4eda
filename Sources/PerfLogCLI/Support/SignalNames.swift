import PerfLog
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The names of the common signals, by this platform's numbers, for `tail` to show and
/// `record --signal` to read. Stored events carry the number only, so a log read on
/// another platform names them by that platform's numbering.
enum SignalNames {
    /// Name (without `SIG`) and number of each named signal.
    static let table: [(name: String, number: Int32)] = [
        ("HUP", SIGHUP), ("INT", SIGINT), ("QUIT", SIGQUIT), ("ILL", SIGILL), ("TRAP", SIGTRAP), ("ABRT", SIGABRT),
        ("BUS", SIGBUS), ("FPE", SIGFPE), ("KILL", SIGKILL), ("USR1", SIGUSR1), ("SEGV", SIGSEGV), ("USR2", SIGUSR2),
        ("PIPE", SIGPIPE), ("ALRM", SIGALRM), ("TERM", SIGTERM), ("XCPU", SIGXCPU), ("XFSZ", SIGXFSZ), ("SYS", SIGSYS),
    ]

    /// How an outcome names signal `number`: `SIGKILL` for a named one, `signal 40`
    /// otherwise.
    static func describe(_ number: Int32) -> String {
        table.first { $0.number == number }.map { "SIG" + $0.name } ?? "signal \(number)"
    }

    /// The signal `text` names: a number from 1 to ``Event/maxSignal``, or a name of
    /// ``table`` with or without `SIG`, in any case (`9`, `KILL`, `SIGKILL`, `sigkill`).
    /// - Returns: the number, or `nil` when `text` is none of those.
    static func parse(_ text: String) -> Int32? {
        if let n = Int32(text), text.first != "+" {
            return (1...Event.maxSignal).contains(n) ? n : nil
        }
        var name = text.uppercased()
        if name.hasPrefix("SIG") { name.removeFirst(3) }
        return table.first { $0.name == name }?.number
    }
}
