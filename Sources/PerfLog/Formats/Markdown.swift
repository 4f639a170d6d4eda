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

    static func ms(_ ns: Double?) -> String {
        guard let ns, ns.isFinite else { return "–" }
        return fixed(ns / 1e6, 3)
    }

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
