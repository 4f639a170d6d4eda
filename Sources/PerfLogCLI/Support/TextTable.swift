/// Aligned columns for people: a header line, then one line per row, two spaces between
/// columns, numbers right-aligned.
///
/// Widths count display columns of the text as the output's style shows it (see
/// ``OutputStyle/text(_:)``), never escape sequences: a cell is padded first and its
/// colour wrapped around the text alone, so coloured and plain rows line up.
struct TextTable {
    /// One cell: its text and, optionally, the colour it is shown in.
    struct Cell: ExpressibleByStringLiteral {
        /// What the cell says.
        var text: String
        /// Its colour on a coloured output.
        var tint: OutputStyle.Tint?

        /// A cell saying `text`, in `tint` when colour is on.
        init(_ text: String, _ tint: OutputStyle.Tint? = nil) {
            self.text = text
            self.tint = tint
        }

        /// A plain cell from a literal.
        init(stringLiteral text: String) { self.init(text) }
    }

    /// The column titles.
    let headers: [String]
    /// The columns whose cells line up on the right (numbers, durations).
    let rightAligned: Set<Int>
    /// Columns whose cells are cut to at most this many display columns, with an
    /// ellipsis (names that would not fit the terminal).
    var maxWidths: [Int: Int] = [:]
    /// The rows added so far, one cell per column each.
    private(set) var rows: [[Cell]] = []

    /// An empty table with these column titles; `rightAligned` are column indexes.
    init(headers: [String], rightAligned: Set<Int> = []) {
        self.headers = headers
        self.rightAligned = rightAligned
    }

    /// Adds a row of plain cells; it has one cell per header.
    mutating func append(_ cells: [String]) {
        append(cells.map { Cell($0) })
    }

    /// Adds a row; it has one cell per header.
    mutating func append(_ cells: [Cell]) {
        precondition(cells.count == headers.count, "a row needs one cell per column")
        rows.append(cells)
    }

    /// The table without colour in UTF-8, each line ending in a newline.
    var rendered: String { rendered(.plain) }

    /// The table in `style`, headers in bold, each line ending in a newline.
    func rendered(_ style: OutputStyle) -> String {
        let header = headers.map { Cell($0, .bold) }
        let shown = ([header] + rows).map { row in row.enumerated().map { i, cell in shownCell(cell, column: i, style) } }
        var widths = [Int](repeating: 0, count: headers.count)
        for row in shown {
            for (i, cell) in row.enumerated() { widths[i] = max(widths[i], DisplayColumns.width(cell.text)) }
        }
        return shown.map { TextTable.line($0, widths: widths, rightAligned: rightAligned, style) }.joined()
    }

    /// The display columns each column takes in `style` (what ``rendered(_:)`` pads to).
    func columnWidths(_ style: OutputStyle) -> [Int] {
        var widths = headers.map { DisplayColumns.width(style.text($0)) }
        for row in rows {
            for (i, cell) in row.enumerated() {
                widths[i] = max(widths[i], DisplayColumns.width(shownCell(cell, column: i, style).text))
            }
        }
        return widths
    }

    /// The table with only `columns` (indexes, in the order given), and their limits.
    func keeping(_ columns: [Int]) -> TextTable {
        var kept = TextTable(headers: columns.map { headers[$0] },
                             rightAligned: Set(columns.enumerated().filter { rightAligned.contains($0.element) }.map(\.offset)))
        for (i, c) in columns.enumerated() { kept.maxWidths[i] = maxWidths[c] }
        kept.rows = rows.map { row in columns.map { row[$0] } }
        return kept
    }

    /// `cell` in the style's character set, cut to its column's limit.
    private func shownCell(_ cell: Cell, column: Int, _ style: OutputStyle) -> Cell {
        var text = style.text(cell.text)
        if let limit = maxWidths[column] { text = DisplayColumns.truncate(text, to: limit, ellipsis: style.ellipsis) }
        return Cell(text, cell.tint)
    }

    /// One line of `cells` (already in the style's character set) padded to `widths`,
    /// two spaces apart, ending in a newline.
    static func line(_ cells: [Cell], widths: [Int], rightAligned: Set<Int>, _ style: OutputStyle) -> String {
        var line = ""
        for (i, cell) in cells.enumerated() {
            if i > 0 { line += "  " }
            let right = rightAligned.contains(i)
            let spaces = String(repeating: " ", count: max(0, widths[i] - DisplayColumns.width(cell.text)))
            let painted = style.paint(cell.text, cell.tint)
            // A left-aligned last column is not padded: trailing spaces help nobody.
            if right { line += spaces + painted } else { line += i == cells.count - 1 ? painted : painted + spaces }
        }
        return line + "\n"
    }
}
