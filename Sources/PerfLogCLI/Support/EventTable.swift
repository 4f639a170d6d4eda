import PerfLog

/// Renders events as aligned rows for `perflog tail`.
///
/// Every column has a fixed width, chosen once from the terminal's width (or the
/// defaults), and longer agent and CLI names are cut with an ellipsis: rows printed in
/// later batches of `tail -f` line up with the header whatever names arrive.
struct EventTable {
    /// The column titles.
    static let headers = ["TIME (UTC)", "AGENT", "CLI", "KIND", "DURATION", "OUTCOME"]
    /// The widest AGENT and CLI columns, in display columns, when the line has room.
    static let agentWidth = 20, cliWidth = 12
    /// The narrowest they become on a narrow terminal.
    static let minAgentWidth = 6, minCLIWidth = 4
    /// What the other columns take: a millisecond UTC time, `measure`, a duration such as
    /// `1h 02m 03s`.
    static let timeWidth = 24, kindWidth = 7, durationWidth = 10
    /// Room kept for OUTCOME (`failed (exit 1)`) when fitting the names to a width.
    static let outcomeRoom = 15

    /// The output's colour, character set and width.
    let style: OutputStyle
    /// The display columns of each column but the last (OUTCOME, never padded).
    let widths: [Int]
    private var printedHeader = false

    /// A table for `style`: AGENT and CLI as wide as ``agentWidth`` and ``cliWidth``, or
    /// narrower so that a line fits `style.width`.
    init(style: OutputStyle) {
        self.style = style
        var agent = Self.agentWidth, cli = Self.cliWidth
        if let width = style.width {
            let fixed = Self.timeWidth + Self.kindWidth + Self.durationWidth + Self.outcomeRoom + 2 * 5
            // Share what is left 5:3 between the names, within their limits.
            let room = width - fixed
            agent = min(Self.agentWidth, max(Self.minAgentWidth, room * 5 / 8))
            cli = min(Self.cliWidth, max(Self.minCLIWidth, room - agent))
        }
        widths = [Self.timeWidth, agent, cli, Self.kindWidth, Self.durationWidth, 0]
    }

    /// The rows for `events`, each ending in a newline, preceded by the header line the
    /// first time rows are rendered; empty when `events` is.
    mutating func render(_ events: [Event]) -> String {
        guard !events.isEmpty else { return "" }
        var out = ""
        if !printedHeader {
            out += line(Self.headers.map { TextTable.Cell($0, .bold) })
            printedHeader = true
        }
        for e in events { out += line(cells(e)) }
        return out
    }

    private func line(_ cells: [TextTable.Cell]) -> String {
        let shown = cells.enumerated().map { i, cell in
            var text = style.text(cell.text)
            if i == 1 || i == 2 { text = DisplayColumns.truncate(text, to: widths[i], ellipsis: style.ellipsis) }
            return TextTable.Cell(text, cell.tint)
        }
        return TextTable.line(shown, widths: widths, rightAligned: [4], style)
    }

    private func cells(_ e: Event) -> [TextTable.Cell] {
        let time = Timestamp.iso8601(unixNanoseconds: e.wallTimeNs, precision: .milliseconds)
        let agent = TextTable.Cell(Terminal.oneLine(e.stream.agent)), cli = TextTable.Cell(Terminal.oneLine(e.stream.cli))
        switch e.kind {
        case .mark:
            return [TextTable.Cell(time), agent, cli, "mark", "-", TextTable.Cell("in flight", .dim)]
        case .measure:
            var outcome = e.outcome.rawValue
            if let code = e.exitCode, !(e.outcome == .ok && code == 0) { outcome += " (exit \(code))" }
            if let signal = e.signal { outcome += " (killed by \(SignalNames.describe(signal)))" }
            return [TextTable.Cell(time), agent, cli, "measure", TextTable.Cell(HumanFormat.duration(nanoseconds: e.durationNs)),
                    TextTable.Cell(outcome, e.outcome == .failed ? .red : nil)]
        }
    }
}
