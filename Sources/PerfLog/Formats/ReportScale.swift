#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A duration axis of the HTML report: maps nanoseconds to a pixel position, linearly or
/// logarithmically, and chooses ticks with round values in a readable unit.
struct ReportScale {
    /// The smallest and largest duration shown, nanoseconds.
    let low: Double, high: Double
    /// Whether positions follow the logarithm of the duration: when the range is wide
    /// (the largest more than ``logRatio`` times the smallest), so that a fast cluster
    /// is not squeezed into one pixel by a slow outlier.
    let logarithmic: Bool
    /// The pixel positions of `low` and `high`.
    let from: Double, to: Double

    /// Above this ratio of largest to smallest duration an axis is logarithmic.
    static let logRatio = 20.0

    /// An axis covering `values` (nanoseconds) from pixel `from` to pixel `to`; a linear
    /// axis starts at zero.
    init(covering values: [Double], from: Double, to: Double) {
        let finite = values.filter { $0.isFinite && $0 >= 0 }
        let lo = finite.min() ?? 0, hi = finite.max() ?? 1
        logarithmic = lo > 0 && hi / lo > ReportScale.logRatio
        if logarithmic {
            let nice = ReportScale.niceDurations
            low = nice.last { $0 <= lo } ?? nice[0]
            high = nice.first { $0 >= hi } ?? hi
        } else {
            low = 0
            high = hi > 0 ? ReportScale.niceCeiling(hi) : 1
        }
        self.from = from
        self.to = to
    }

    /// The pixel position of `ns`, clamped to the axis.
    func position(_ ns: Double) -> Double {
        let t: Double
        if logarithmic {
            t = (log10(max(ns, low)) - log10(low)) / (log10(high) - log10(low))
        } else {
            t = high > low ? (ns - low) / (high - low) : 0
        }
        return from + (to - from) * min(1, max(0, t))
    }

    /// Durations that read as round in their own unit (1-2-5 steps of nanoseconds up to
    /// a second, then 1, 2, 5, 10, 20, 30 seconds, minutes and hours), for the ticks of a
    /// logarithmic axis.
    static let niceDurations: [Double] = {
        var out: [Double] = []
        var decade = 1.0
        while decade < 1e9 {
            out += [decade, 2 * decade, 5 * decade]
            decade *= 10
        }
        for unit in [1e9, 60e9, 3600e9] { out += [1, 2, 5, 10, 20, 30].map { $0 * unit } }
        out += [24, 48, 120, 240].map { $0 * 3600e9 }
        return out
    }()

    /// Tick values (nanoseconds) with round values: on a logarithmic axis, round
    /// durations (``niceDurations``) thinned to at most about eight; 1-2-5 steps on a
    /// linear one.
    var ticks: [Double] {
        if logarithmic {
            let inside = ReportScale.niceDurations.filter { $0 >= low * 0.9999 && $0 <= high * 1.0001 }
            let every = max(1, Int((Double(inside.count) / 8).rounded(.up)))
            var out = stride(from: 0, to: inside.count, by: every).map { inside[$0] }
            if let last = inside.last, out.last != last { out.append(last) }
            return out
        }
        let step = ReportScale.niceStep(high / 4)
        var out: [Double] = []
        var v = 0.0
        while v <= high * 1.0001 {
            out.append(v)
            v += step
        }
        return out
    }

    /// A tick's label without trailing zeros: on a linear axis in the unit of its
    /// largest tick, so that it reads in one unit; on a logarithmic one in the tick's own.
    func label(_ ns: Double) -> String {
        let u = ReadableDuration.unit(for: logarithmic ? ns : high)
        var text = ReadableDuration.fixed(ns / u.nanoseconds, digits: ns / u.nanoseconds < 10 ? 2 : 0)
        if text.contains(".") {
            while text.hasSuffix("0") { text.removeLast() }
            if text.hasSuffix(".") { text.removeLast() }
        }
        return text + " " + u.name
    }

    /// The smallest 1, 2 or 5 × 10ⁿ that is at least `v`.
    static func niceStep(_ v: Double) -> Double {
        guard v > 0 else { return 1 }
        let p = pow(10, floor(log10(v)))
        for m in [1.0, 2.0, 5.0, 10.0] where m * p >= v { return m * p }
        return 10 * p
    }

    /// `v` rounded up to a multiple of a round step (at most four steps fit).
    static func niceCeiling(_ v: Double) -> Double {
        let step = niceStep(v / 4)
        return (v / step).rounded(.up) * step
    }
}
