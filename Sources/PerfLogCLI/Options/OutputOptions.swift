import ArgumentParser

/// `--color never|auto|always`: whether human output is coloured.
struct OutputOptions: ParsableArguments {
    /// The values of `--color`.
    enum ColourChoice: String, ExpressibleByArgument, CaseIterable, Sendable {
        case never, auto, always
    }

    @Option(name: .customLong("color"), help: ArgumentHelp(
        "Colour the output: never, auto (on a terminal, unless NO_COLOR is set) or always (even into a pipe).",
        valueName: "when"))
    var colour: ColourChoice = .auto

    /// The style of standard output for this run; see ``OutputStyle/detect(colour:)``.
    func style() -> OutputStyle { OutputStyle.detect(colour: colour) }
}
