#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One line of progress on standard error, shown only when it is a terminal and
/// replaced or cleared in place (a carriage return and an erase), so that logs and
/// pipes never see it.
enum ProgressLine {
    /// Whether standard error is a terminal.
    static var isShown: Bool { isatty(STDERR_FILENO) == 1 }

    /// Shows `text`, or clears the line for `nil`.
    static func show(_ text: String?) {
        guard isShown else { return }
        Terminal.write("\r\u{1B}[2K" + (text ?? ""), to: STDERR_FILENO)
    }
}
