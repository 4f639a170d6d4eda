enum OpenMetrics {
    /// `agent="…",cli="…"`, with backslash, double quote and newline escaped.
    static func labels(_ s: StreamName) -> String {
        "agent=\"\(escape(s.agent))\",cli=\"\(escape(s.cli))\""
    }

    static func escape(_ v: String) -> String {
        var out = ""
        for ch in v {
            switch ch {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(ch)
            }
        }
        return out
    }

    /// Seconds from nanoseconds, exact to the nanosecond, without an exponent.
    static func seconds(_ ns: Double) -> String {
        guard ns.isFinite, ns >= 0 else { return "NaN" }
        let n = UInt64(min(ns.rounded(), 9.0e18))
        let frac = String(n % 1_000_000_000)
        var s = "\(n / 1_000_000_000)." + String(repeating: "0", count: 9 - frac.count) + frac
        while s.hasSuffix("0") { s.removeLast() }
        if s.hasSuffix(".") { s.removeLast() }
        return s
    }
}
