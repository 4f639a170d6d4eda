#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What perflog's human output may use on this run: colour, characters beyond ASCII and
/// how wide a line may be. Only the CLI knows about terminals; tables and reports are
/// laid out for one of these.
struct OutputStyle: Sendable {
    /// A Select Graphic Rendition attribute, the one kind of escape sequence perflog prints.
    enum Tint: String, Sendable {
        /// Headers.
        case bold = "1"
        /// What matters less: a missing figure, a footnote.
        case dim = "2"
        /// Failures.
        case red = "31"
        /// The fastest.
        case green = "32"
        /// The slow: the slowest P95 of an agent, a significantly slower CLI.
        case yellow = "33"
    }

    /// Whether ``paint(_:_:)`` adds escape sequences.
    var colour: Bool
    /// Whether the locale's character set is UTF-8; without it output is plain ASCII (see
    /// ``text(_:)``).
    var unicode: Bool
    /// The most display columns a line may take; `nil` for no limit (output to a file or
    /// a pipe without `COLUMNS`).
    var width: Int?
    /// Whether standard output is a terminal (what decides the sparkline).
    var terminal: Bool

    /// No colour, UTF-8, no width limit, not a terminal: text as files get it.
    static let plain = OutputStyle(colour: false, unicode: true, width: nil, terminal: false)

    /// The style of standard output as this process finds it (see ``OutputOptions``).
    /// - Parameter colour: `--color`: `always` and `never` decide; `auto` colours a
    ///   terminal unless `NO_COLOR` is set to a non-empty value or `TERM` is `dumb`.
    static func detect(colour choice: OutputOptions.ColourChoice) -> OutputStyle {
        let terminal = isatty(STDOUT_FILENO) == 1
        let colour: Bool
        switch choice {
        case .always: colour = true
        case .never: colour = false
        case .auto: colour = terminal && (environment("NO_COLOR") ?? "").isEmpty && environment("TERM") != "dumb"
        }
        return OutputStyle(colour: colour, unicode: localeIsUTF8(), width: terminalWidth(terminal: terminal),
                           terminal: terminal)
    }

    /// The width of the terminal on standard output (`TIOCGWINSZ`), else `$COLUMNS`
    /// when it is a positive number, else `nil`.
    static func terminalWidth(terminal: Bool) -> Int? {
        if terminal {
            var size = winsize()
            if ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0 && size.ws_col > 0 { return Int(size.ws_col) }
        }
        guard let columns = environment("COLUMNS").flatMap({ Int($0.trimmingSpaces) }), columns > 0 else { return nil }
        return columns
    }

    /// Whether the locale's character set is UTF-8, as the C library would choose it:
    /// the first non-empty of `LC_ALL`, `LC_CTYPE` and `LANG` names it (`UTF-8` or
    /// `utf8` in any case); none, `C` and `POSIX` are ASCII.
    static func localeIsUTF8() -> Bool {
        guard let locale = ["LC_ALL", "LC_CTYPE", "LANG"].lazy.compactMap(environment).first(where: { !$0.isEmpty }) else {
            return false
        }
        let lowered = locale.lowercased()
        return lowered.contains("utf-8") || lowered.contains("utf8")
    }

    private static func environment(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }

    /// `text` wrapped in the escape sequences of `tint` when colour is on; as it is
    /// otherwise, or for no tint or empty text.
    func paint(_ text: String, _ tint: Tint?) -> String {
        guard colour, let tint, !text.isEmpty else { return text }
        return "\u{1b}[\(tint.rawValue)m" + text + "\u{1b}[0m"
    }

    /// `text` in the output's character set: as it is in UTF-8; otherwise perflog's own
    /// symbols in ASCII (`–` as `-`, `…` as `...`, `µ` as `u`, `×` as `x`, `±` as `+/-`)
    /// and any other character beyond ASCII as `?`, as a C-locale terminal could not
    /// show it.
    func text(_ text: String) -> String {
        guard !unicode, !text.utf8.allSatisfy({ $0 < 0x80 }) else { return text }
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case _ where scalar.isASCII: out.unicodeScalars.append(scalar)
            case "–", "—": out += "-"
            case "…": out += "..."
            case "µ", "μ": out += "u"
            case "×": out += "x"
            case "±": out += "+/-"
            default: out += "?"
            }
        }
        return out
    }

    /// What stands for a figure that does not exist.
    var none: String { unicode ? "–" : "-" }
    /// What ends a name cut short.
    var ellipsis: String { unicode ? "…" : "..." }
}
