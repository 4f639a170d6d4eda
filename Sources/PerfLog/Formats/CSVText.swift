/// CSV fields as RFC 4180 writes them.
package enum CSVText {
    /// Appends the text cell `field` to `out`: as is, or in double quotes with every
    /// double quote doubled when it holds a comma, a double quote, CR or LF.
    ///
    /// A cell that a spreadsheet would take for a formula (it begins with `=`, `+`,
    /// `-`, `@`, a tab or CR) is written with a `'` in front, as OWASP recommends
    /// against CSV injection: a name such as `=HYPERLINK(…)` shows as text instead of
    /// running. Numbers are not text cells and are never changed.
    package static func appendField(_ field: String, to out: inout String) {
        if let first = field.utf8.first,
           [UInt8(ascii: "="), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "@"), 0x09, 0x0D].contains(first) {
            appendQuotedIfNeeded("'" + field, to: &out)
        } else {
            appendQuotedIfNeeded(field, to: &out)
        }
    }

    private static func appendQuotedIfNeeded(_ field: String, to out: inout String) {
        let needsQuotes = field.utf8.contains { $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: "\"") || $0 == 0x0A || $0 == 0x0D }
        guard needsQuotes else { out.append(field); return }
        out.append("\"")
        for scalar in field.unicodeScalars {
            if scalar == "\"" { out.append("\"\"") } else { out.unicodeScalars.append(scalar) }
        }
        out.append("\"")
    }
}
