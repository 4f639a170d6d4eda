import ArgumentParser

/// `--color never|auto|always`: whether human output is coloured.
struct OutputOptions: ParsableArguments {
    /// The values of `--color`.
    enum ColourChoice: String, ExpressibleByArgument, CaseIterable, Sendable {
        /// Never colour.
        case never
        /// Colour a terminal unless `NO_COLOR` says otherwise.
        case auto
        /// Colour whatever standard output is.
        case always
    }

    @Option(name: .customLong("color"), help: ArgumentHelp(
        "Colour the output: never, auto (on a terminal, unless NO_COLOR is set) or always (even into a pipe).",
        valueName: "when"))
    var colour: ColourChoice = .auto

    /// The style of standard output for this run; see ``OutputStyle/detect(colour:)``.
    func style() -> OutputStyle { OutputStyle.detect(colour: colour) }
}
