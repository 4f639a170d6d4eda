/// Pieces of the Markdown report: table cells and numbers.
enum Markdown {
    /// A table cell: pipes and backslashes escaped so that names cannot break the table.
    static func cell(_ s: String) -> String {
        var out = ""
        for ch in s {
            if ch == "|" || ch == "\\" || ch == "`" || ch == "*" || ch == "_" { out.append("\\") }
            out.append(ch)
        }
        return out
    }

    /// A ratio with `digits` decimals and `×` (`1.16×`); `–` for none.
    static func relative(_ ratio: Double?, digits: Int) -> String {
        guard let ratio, ratio.isFinite else { return "–" }
        return fixed(ratio, digits) + "×"
    }

    /// Nanoseconds as milliseconds with three decimals; `–` for none.
    static func ms(_ ns: Double?) -> String {
        guard let ns, ns.isFinite else { return "–" }
        return fixed(ns / 1e6, 3)
    }

    /// `v` with exactly `places` decimals, halves away from zero; `–` when not finite.
    static func fixed(_ v: Double, _ places: Int) -> String {
        guard v.isFinite else { return "–" }
        var scale = 1.0
        for _ in 0..<places { scale *= 10 }
        let scaled = (abs(v) * scale).rounded()
        guard scaled < 9.0e18 else { return "\(v)" }
        let n = UInt64(scaled), s = UInt64(scale)
        let frac = String(n % s)
        return (v < 0 && n > 0 ? "-" : "") + "\(n / s)." + String(repeating: "0", count: places - frac.count) + frac
    }
}
