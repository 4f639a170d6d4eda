#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Statistics are exact: computed from every duration of the window, never from buckets
// or sketches. A window holds at most `retain` measures (default 100), so sorting it is
// cheap and there is no reason to approximate.

/// Figures over the durations of one window's successful measures, in nanoseconds.
///
/// Only successful (`ok`) measures count: a fast crash is not a fast run.
public struct DurationStatistics: Sendable, Hashable {
    /// The number of durations (successful measures).
    public var count: Int
    /// Arithmetic mean, nanoseconds.
    public var meanNs: Double
    /// Smallest duration, nanoseconds.
    public var minNs: Double
    /// Median (50th percentile), nanoseconds.
    public var p50Ns: Double
    /// 90th percentile, nanoseconds.
    public var p90Ns: Double
    /// 95th percentile, nanoseconds.
    public var p95Ns: Double
    /// 99th percentile, nanoseconds.
    public var p99Ns: Double
    /// Largest duration, nanoseconds.
    public var maxNs: Double
    /// Sample variance (divisor `count - 1`), square nanoseconds; 0 for one duration.
    public var varianceNs2: Double
    /// Durations whose modified z-score exceeds ``Statistics/outlierThreshold``.
    public var outliers: Int

    /// Sample standard deviation, nanoseconds; 0 for one duration.
    public var stddevNs: Double { varianceNs2.squareRoot() }

    /// Standard error of the mean (`stddev / √count`), nanoseconds.
    public var standardErrorNs: Double { (varianceNs2 / Double(count)).squareRoot() }

    /// Computes every figure from `durations` (nanoseconds, in any order); `nil` when
    /// there are none.
    public init?(nanoseconds durations: [UInt64]) {
        guard !durations.isEmpty else { return nil }
        self.init(sorted: durations.sorted())
    }

    /// Computes every figure from `sorted`, which must be in increasing order and not
    /// empty.
    init(sorted: [UInt64]) {
        precondition(!sorted.isEmpty, "DurationStatistics needs at least one duration")
        let n = sorted.count
        count = n
        let mean = Statistics.mean(sorted)
        meanNs = mean
        minNs = Double(sorted[0])
        maxNs = Double(sorted[n - 1])
        p50Ns = Statistics.percentile(sorted: sorted, 0.50)
        p90Ns = Statistics.percentile(sorted: sorted, 0.90)
        p95Ns = Statistics.percentile(sorted: sorted, 0.95)
        p99Ns = Statistics.percentile(sorted: sorted, 0.99)
        varianceNs2 = Statistics.sampleVariance(sorted, mean: mean)
        outliers = Statistics.outlierCount(sorted: sorted, median: p50Ns)
    }
}

/// The statistics of one stream over its retained window (its newest `retain`
/// measures) and its open marks.
public struct StreamStatistics: Sendable, Hashable {
    /// The (agent, CLI) pair.
    public var stream: StreamName
    /// Measures in the window, successful or not.
    public var count: Int
    /// Measures in the window whose outcome is `failed`.
    public var failures: Int
    /// Open marks: invocations started and not (yet) measured. Includes the abandoned
    /// ones.
    public var inFlight: Int
    /// Open marks older than the abandonment timeout at the time of the projection: the
    /// invocation most likely crashed or was killed. A subset of ``inFlight``.
    public var abandoned: Int
    /// Figures over the window's successful durations; `nil` when it has none.
    public var durations: DurationStatistics?
    /// Earliest wall-clock time of a measure in the window, nanoseconds since the Unix
    /// epoch; `nil` when the window is empty.
    public var firstAtNs: Int64?
    /// Latest wall-clock time of a measure in the window, nanoseconds since the Unix
    /// epoch; `nil` when the window is empty.
    public var lastAtNs: Int64?
    /// The stream's lifetime counters: every measure since they started, not only the
    /// window's; `nil` when the statistics were not read from a log.
    public var lifetime: LifetimeCounters?

    /// Measures of the stream's lifetime (``LifetimeCounters/total``); the window's
    /// ``count`` when ``lifetime`` is not known.
    public var total: UInt64 { lifetime?.total ?? UInt64(count) }
    /// Failed measures of the stream's lifetime; the window's ``failures`` when
    /// ``lifetime`` is not known.
    public var totalFailures: UInt64 { lifetime?.failed ?? UInt64(failures) }

    /// Computes the statistics of `stream` from its window and open marks.
    ///
    /// - Parameters:
    ///   - window: the stream's retained measures (marks in it are ignored).
    ///   - openMarks: the stream's open marks (measures in it are ignored).
    ///   - now: the time the projection is made, nanoseconds since the Unix epoch.
    ///   - abandonAfter: how old (before `now`) an open mark must be, strictly, to count
    ///     as abandoned.
    public init(stream: StreamName, window: [Event], openMarks: [Event], now: Int64, abandonAfter: Duration) {
        var ok: [UInt64] = []
        ok.reserveCapacity(window.count)
        var count = 0, failures = 0
        var first: Int64?, last: Int64?
        for e in window where e.kind == .measure {
            count += 1
            if e.outcome == .failed { failures += 1 } else { ok.append(e.durationNs) }
            first = Swift.min(first ?? e.wallTimeNs, e.wallTimeNs)
            last = Swift.max(last ?? e.wallTimeNs, e.wallTimeNs)
        }
        let cutoff = Statistics.abandonmentCutoff(now: now, abandonAfter: abandonAfter)
        let marks = openMarks.filter { $0.kind == .mark }
        ok.sort()
        self.init(stream: stream, count: count, failures: failures, inFlight: marks.count,
                  abandoned: marks.reduce(0) { $0 + ($1.wallTimeNs < cutoff ? 1 : 0) },
                  sortedOk: ok, firstAtNs: first, lastAtNs: last)
    }

    init(stream: StreamName, count: Int, failures: Int, inFlight: Int, abandoned: Int, sortedOk: [UInt64],
         firstAtNs: Int64?, lastAtNs: Int64?) {
        self.stream = stream
        self.count = count
        self.failures = failures
        self.inFlight = inFlight
        self.abandoned = abandoned
        durations = sortedOk.isEmpty ? nil : DurationStatistics(sorted: sortedOk)
        self.firstAtNs = firstAtNs
        self.lastAtNs = lastAtNs
        lifetime = nil
    }
}

/// The statistical building blocks of the projection.
public enum Statistics {
    /// The modified z-score above which a duration is an outlier (Iglewicz and Hoaglin's
    /// recommendation).
    public static let outlierThreshold = 3.5

    /// The default abandonment timeout: an open mark older than one hour.
    public static let defaultAbandonAfter: Duration = .seconds(3600)

    /// Open marks stamped strictly before the returned time are abandoned: `now` minus
    /// the timeout (none when negative), or `Int64.min` (none abandoned) when that does
    /// not fit.
    package static func abandonmentCutoff(now: Int64, abandonAfter: Duration) -> Int64 {
        let (cutoff, overflow) = now.subtractingReportingOverflow(abandonAfterNs(abandonAfter))
        return overflow ? .min : cutoff
    }

    /// `timeout` in whole nanoseconds, from 0 (for a negative one) to `Int64.max`: what
    /// the projection file's checkpoint stores.
    static func abandonAfterNs(_ timeout: Duration) -> Int64 {
        let (seconds, attoseconds) = timeout.components
        guard seconds >= 0, attoseconds >= 0 else { return 0 }
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return .max }
        let (ns, carry) = whole.addingReportingOverflow(attoseconds / 1_000_000_000)
        return carry ? .max : ns
    }

    /// The mean of `values`. The sum is kept exactly in 128 bits and divided once, so no
    /// rounding accumulates over the window.
    static func mean(_ values: [UInt64]) -> Double {
        var high: UInt64 = 0, low: UInt64 = 0
        for v in values {
            let (sum, carry) = low.addingReportingOverflow(v)
            low = sum
            if carry { high += 1 }
        }
        let n = UInt64(values.count)
        if high == 0 {
            // Quotient and remainder are exact; only the final addition rounds.
            return Double(low / n) + Double(low % n) / Double(n)
        }
        return (Double(high) * 0x1p64 + Double(low)) / Double(n)
    }

    /// Sample variance (divisor n − 1) by the corrected two-pass algorithm (Chan, Golub
    /// and LeVeque, "Algorithms for computing the sample variance", 1983, eq. 1.7): the
    /// second term removes the rounding error of `mean`. 0 for fewer than two values.
    static func sampleVariance(_ values: [UInt64], mean: Double) -> Double {
        guard values.count > 1 else { return 0 }
        var squares = 0.0, deviations = 0.0
        for v in values {
            let d = Double(v) - mean
            squares += d * d
            deviations += d
        }
        let n = Double(values.count)
        return Swift.max(0, (squares - deviations * deviations / n) / (n - 1))
    }

    /// The `p`-quantile (`p` in 0...1) of `sorted` (increasing, not empty), interpolating
    /// linearly between the closest ranks, as numpy's default (`method="linear"`): with
    /// h = (n − 1)·p, the value is x[⌊h⌋] + (h − ⌊h⌋)·(x[⌊h⌋+1] − x[⌊h⌋]).
    static func percentile(sorted: [UInt64], _ p: Double) -> Double {
        percentile(count: sorted.count, p) { Double(sorted[$0]) }
    }

    /// The `p`-quantile of `sorted` (increasing, not empty), interpolated as the `UInt64`
    /// overload does.
    static func percentile(sorted: [Double], _ p: Double) -> Double {
        percentile(count: sorted.count, p) { sorted[$0] }
    }

    /// The `p`-quantile of `count` sorted values, `value(k)` being the one of rank `k`.
    @inline(__always)
    private static func percentile(count: Int, _ p: Double, _ value: (Int) -> Double) -> Double {
        precondition(count > 0, "percentile of nothing")
        let h = Double(count - 1) * p
        let below = Swift.min(Swift.max(Int(h.rounded(.down)), 0), count - 1)
        let above = Swift.min(below + 1, count - 1)
        return lerp(value(below), value(above), h - Double(below))
    }

    /// numpy's `_lerp`: interpolates from the nearer end so that t = 1 gives `b` exactly.
    @inline(__always)
    static func lerp(_ a: Double, _ b: Double, _ t: Double) -> Double {
        let diff = b - a
        return t >= 0.5 ? b - diff * (1 - t) : a + diff * t
    }

    /// How many of `sorted` (increasing) are outliers by the modified z-score
    /// (Iglewicz and Hoaglin, 1993): 0.6745·|x − median| / MAD > 3.5, where MAD is the
    /// median of the absolute deviations from the median. When MAD is 0 (at least half
    /// the values are equal) the score is undefined and nothing is an outlier.
    static func outlierCount(sorted: [UInt64], median: Double) -> Int {
        let deviations = sorted.map { abs(Double($0) - median) }.sorted()
        let mad = percentile(sorted: deviations, 0.5)
        guard mad > 0 else { return 0 }
        var n = 0
        for v in sorted where 0.6745 * abs(Double(v) - median) / mad > outlierThreshold { n += 1 }
        return n
    }

    /// The two-sided p-value of Welch's unequal-variances t-test between two samples
    /// summarised by their size, mean and sample variance: the probability, if both
    /// means were equal, of a difference at least this large.
    ///
    /// t = (m₁ − m₂) / √(v₁/n₁ + v₂/n₂), with Welch–Satterthwaite degrees of freedom
    /// ν = (v₁/n₁ + v₂/n₂)² / ((v₁/n₁)²/(n₁−1) + (v₂/n₂)²/(n₂−1)).
    /// - Returns: `nil` when either sample has fewer than two values or both variances
    ///   are 0 (the statistic is undefined).
    package static func welchPValue(
        countA: Int, meanA: Double, varianceA: Double, countB: Int, meanB: Double, varianceB: Double
    ) -> Double? {
        guard countA >= 2, countB >= 2, varianceA > 0 || varianceB > 0 else { return nil }
        let sa = varianceA / Double(countA), sb = varianceB / Double(countB)
        let se2 = sa + sb
        let t = (meanA - meanB) / se2.squareRoot()
        let df = se2 * se2 / (sa * sa / Double(countA - 1) + sb * sb / Double(countB - 1))
        guard t.isFinite, df.isFinite, df > 0 else { return nil }
        return studentTTwoSidedPValue(t: t, degreesOfFreedom: df)
    }

    /// Welch's two-sided p-value between the successful durations of two windows; see
    /// ``welchPValue(countA:meanA:varianceA:countB:meanB:varianceB:)``.
    package static func welchPValue(_ a: DurationStatistics, _ b: DurationStatistics) -> Double? {
        welchPValue(countA: a.count, meanA: a.meanNs, varianceA: a.varianceNs2,
                    countB: b.count, meanB: b.meanNs, varianceB: b.varianceNs2)
    }

    /// P(|T| ≥ |t|) for Student's t distribution with `degreesOfFreedom` ν > 0:
    /// I_{ν/(ν+t²)}(ν/2, 1/2), the regularized incomplete beta function (Abramowitz and
    /// Stegun 26.7.1 with 26.5.27).
    static func studentTTwoSidedPValue(t: Double, degreesOfFreedom df: Double) -> Double {
        precondition(df > 0, "degrees of freedom must be positive")
        if t.isNaN { return .nan }
        if t.isInfinite { return 0 }
        let t2 = t * t
        // Both x and 1 − x from their own formulas: 1 − x computed by subtraction loses
        // every digit when t is small or ν large.
        let x = df / (df + t2), oneMinusX = t2 / (df + t2)
        return Swift.min(1, Swift.max(0, incompleteBeta(a: df / 2, b: 0.5, x: x, oneMinusX: oneMinusX)))
    }

    /// P(T ≤ t) for Student's t distribution with `degreesOfFreedom` ν > 0.
    static func studentTCDF(_ t: Double, degreesOfFreedom df: Double) -> Double {
        let tail = studentTTwoSidedPValue(t: t, degreesOfFreedom: df) / 2
        return t < 0 ? tail : 1 - tail
    }

    /// The regularized incomplete beta function I_x(a, b) for a, b > 0 and x in 0...1.
    static func regularizedIncompleteBeta(a: Double, b: Double, x: Double) -> Double {
        precondition(a > 0 && b > 0, "a and b must be positive")
        precondition(x >= 0 && x <= 1, "x must be in 0...1")
        return incompleteBeta(a: a, b: b, x: x, oneMinusX: 1 - x)
    }

    /// I_x(a, b) by its continued fraction (DLMF 8.17.22; Numerical Recipes, 3rd ed.,
    /// §6.4 `betai`/`betacf`), evaluated with the modified Lentz method:
    ///
    ///     I_x(a,b) = x^a (1−x)^b / (a B(a,b)) · 1/(1+ d₁/(1+ d₂/(1+ …)))
    ///     d_{2m+1} = −(a+m)(a+b+m) x / ((a+2m)(a+2m+1))
    ///     d_{2m}   =  m(b−m) x / ((a+2m−1)(a+2m))
    ///
    /// It converges quickly for x < (a+1)/(a+b+2); above that the symmetry
    /// I_x(a,b) = 1 − I_{1−x}(b,a) is used.
    static func incompleteBeta(a: Double, b: Double, x: Double, oneMinusX: Double) -> Double {
        if x <= 0 { return 0 }
        if oneMinusX <= 0 { return 1 }
        // ln of x^a (1−x)^b / B(a,b).
        let front = logGamma(a + b) - logGamma(a) - logGamma(b) + a * log(x) + b * log(oneMinusX)
        if x < (a + 1) / (a + b + 2) {
            return exp(front) * betaContinuedFraction(a: a, b: b, x: x) / a
        }
        return 1 - exp(front) * betaContinuedFraction(a: b, b: a, x: oneMinusX) / b
    }

    /// The continued fraction of ``incompleteBeta(a:b:x:oneMinusX:)`` (modified Lentz).
    private static func betaContinuedFraction(a: Double, b: Double, x: Double) -> Double {
        let tiny = 1e-300, epsilon = 1e-16
        let qab = a + b, qap = a + 1, qam = a - 1
        var c = 1.0
        var d = 1 - qab * x / qap
        if abs(d) < tiny { d = tiny }
        d = 1 / d
        var h = d
        for m in 1...10_000 {
            let m = Double(m), m2 = 2 * m
            // Even step d_{2m}.
            var aa = m * (b - m) * x / ((qam + m2) * (a + m2))
            d = 1 + aa * d
            if abs(d) < tiny { d = tiny }
            c = 1 + aa / c
            if abs(c) < tiny { c = tiny }
            d = 1 / d
            h *= d * c
            // Odd step d_{2m+1}.
            aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
            d = 1 + aa * d
            if abs(d) < tiny { d = tiny }
            c = 1 + aa / c
            if abs(c) < tiny { c = tiny }
            d = 1 / d
            let delta = d * c
            h *= delta
            if abs(delta - 1) < epsilon { break }
        }
        return h
    }

    /// ln Γ(x) for x > 0 by the Lanczos approximation with g = 7 and nine coefficients
    /// (Godfrey's coefficients, as in Press et al. and Wikipedia's "Lanczos
    /// approximation"): relative error below 1e-15 over x > 0. Written here rather than
    /// taken from libm's `lgamma`, which is not thread-safe on every platform (it sets
    /// the global `signgam`).
    static func logGamma(_ x: Double) -> Double {
        precondition(x > 0, "logGamma needs x > 0")
        if x < 0.5 {
            // Γ(x) = Γ(x+1)/x keeps the series in its accurate range.
            return logGamma(x + 1) - log(x)
        }
        let coefficients: [Double] = [
            0.999_999_999_999_809_93, 676.520_368_121_885_1, -1259.139_216_722_402_8,
            771.323_428_777_653_13, -176.615_029_162_140_59, 12.507_343_278_686_905,
            -0.138_571_095_265_720_12, 9.984_369_578_019_571_6e-6, 1.505_632_735_149_311_6e-7,
        ]
        let z = x - 1
        var series = coefficients[0]
        for i in 1..<coefficients.count { series += coefficients[i] / (z + Double(i)) }
        let t = z + 7.5
        // ln(√(2π)) = 0.9189385332046728.
        return 0.918_938_533_204_672_8 + (z + 0.5) * log(t) - t + log(series)
    }
}
