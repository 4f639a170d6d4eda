/// Aligned columns for people: a header line, then one line per row, two spaces between
/// columns, numbers right-aligned. Widths count characters, which is what a terminal
/// shows for the names and units perflog prints.
struct TextTable {
    /// The column titles.
    let headers: [String]
    /// The columns whose cells line up on the right (numbers, durations).
    let rightAligned: Set<Int>
    private(set) var rows: [[String]] = []

    init(headers: [String], rightAligned: Set<Int> = []) {
        self.headers = headers
        self.rightAligned = rightAligned
    }

    /// Adds a row; it has one cell per header.
    mutating func append(_ cells: [String]) {
        precondition(cells.count == headers.count, "a row needs one cell per column")
        rows.append(cells)
    }

    /// The table, each line ending in a newline.
    var rendered: String {
        var widths = headers.map(\.count)
        for row in rows {
            for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) }
        }
        var out = ""
        for row in [headers] + rows {
            var line = ""
            for (i, cell) in row.enumerated() {
                if i > 0 { line += "  " }
                let last = i == row.count - 1
                // A left-aligned last column is not padded: trailing spaces help nobody.
                line += last && !rightAligned.contains(i) ? cell : HumanFormat.pad(cell, widths[i], alignRight: rightAligned.contains(i))
            }
            out += line + "\n"
        }
        return out
    }
}
