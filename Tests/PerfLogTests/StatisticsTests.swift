import Foundation
@testable import PerfLog
import Testing

/// Straightforward computations to check the library's statistics against: sort and
/// index, sum and divide, no cleverness.
enum Reference {
    /// numpy's default percentile, written from its definition: h = (n-1)p, then linear
    /// interpolation between the values at ranks ⌊h⌋ and ⌈h⌉.
    static func percentile(_ values: [Double], _ p: Double) -> Double {
        let s = values.sorted()
        let h = Double(s.count - 1) * p
        let lo = Int(h.rounded(.down)), hi = Int(h.rounded(.up))
        return s[lo] + (h - Double(lo)) * (s[hi] - s[lo])
    }

    static func mean(_ values: [Double]) -> Double { values.reduce(0, +) / Double(values.count) }

    static func stddev(_ values: [Double]) -> Double {
        guard values.count > 1 else { return 0 }
        let m = mean(values)
        return (values.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(values.count - 1)).squareRoot()
    }

    static func median(_ values: [Double]) -> Double {
        let s = values.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    static func outliers(_ values: [Double]) -> Int {
        let m = median(values)
        let mad = median(values.map { abs($0 - m) })
        if mad == 0 { return 0 }
        return values.filter { 0.6745 * abs($0 - m) / mad > 3.5 }.count
    }

    /// The two-sided p-value of Student's t by integrating its density with Simpson's
    /// rule, after the substitution x = √ν·tan θ that turns the density into the smooth,
    /// bounded Γ((ν+1)/2) / (√π Γ(ν/2)) · cos^(ν−1) θ on [0, π/2):
    /// p = 1 − 2∫₀^atan(|t|/√ν) of it. Uses libm's lgamma, not the library's series.
    static func studentP(t: Double, df: Double, intervals: Int = 200_000) -> Double {
        let c = exp(lgamma((df + 1) / 2) - lgamma(df / 2)) / Double.pi.squareRoot()
        func f(_ theta: Double) -> Double { c * pow(cos(theta), df - 1) }
        let b = atan(abs(t) / df.squareRoot()), h = b / Double(intervals)
        var sum = f(0) + f(b)
        for i in 1..<intervals { sum += f(Double(i) * h) * (i % 2 == 1 ? 4 : 2) }
        return 1 - 2 * sum * h / 3
    }

    static func welch(_ a: [Double], _ b: [Double]) -> Double? {
        guard a.count >= 2, b.count >= 2 else { return nil }
        let va = pow(stddev(a), 2), vb = pow(stddev(b), 2)
        guard va > 0 || vb > 0 else { return nil }
        let sa = va / Double(a.count), sb = vb / Double(b.count)
        let t = (mean(a) - mean(b)) / (sa + sb).squareRoot()
        let df = (sa + sb) * (sa + sb) / (sa * sa / Double(a.count - 1) + sb * sb / Double(b.count - 1))
        return studentP(t: t, df: df)
    }
}

/// Asserts |a − b| ≤ tolerance·max(1, |b|).
func expectClose(_ a: Double?, _ b: Double?, _ tolerance: Double = 1e-9, _ what: String = "",
                 sourceLocation: SourceLocation = #_sourceLocation) {
    guard let a, let b else {
        #expect(a == nil && b == nil, "\(what): \(String(describing: a)) vs \(String(describing: b))", sourceLocation: sourceLocation)
        return
    }
    #expect(abs(a - b) <= tolerance * max(1, abs(b)), "\(what): \(a) vs \(b)", sourceLocation: sourceLocation)
}

@Suite("Statistics")
struct StatisticsTests {
    /// Random windows of every shape: sizes 1…300, narrow and wide ranges, many ties.
    @Test("duration figures match the reference on random windows", arguments: Array(UInt64(1)...40))
    func randomWindows(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        let n = Int.random(in: 1...300, using: &rng)
        let base = UInt64.random(in: 0...10_000_000_000_000, using: &rng)
        let spread = [UInt64(1), 10, 1000, 1_000_000_000, 10_000_000_000_000].randomElement(using: &rng)!
        let values = (0..<n).map { _ in base + UInt64.random(in: 0...spread, using: &rng) }
        let d = try #require(DurationStatistics(nanoseconds: values))
        let x = values.map { Double($0) }
        #expect(d.count == n)
        expectClose(d.meanNs, Reference.mean(x), 1e-12, "mean")
        expectClose(d.minNs, x.min()!, 0, "min")
        expectClose(d.maxNs, x.max()!, 0, "max")
        expectClose(d.p50Ns, Reference.percentile(x, 0.50), 1e-12, "p50")
        expectClose(d.p90Ns, Reference.percentile(x, 0.90), 1e-12, "p90")
        expectClose(d.p95Ns, Reference.percentile(x, 0.95), 1e-12, "p95")
        expectClose(d.p99Ns, Reference.percentile(x, 0.99), 1e-12, "p99")
        // The naive sum of squares loses digits when the spread is tiny next to the base;
        // compare with a tolerance relative to the spread.
        #expect(abs(d.stddevNs - Reference.stddev(x)) <= 1e-6 * max(1, Reference.stddev(x)) + 1e-3,
                "stddev \(d.stddevNs) vs \(Reference.stddev(x))")
        #expect(d.outliers == Reference.outliers(x))
    }

    @Test("percentiles agree with numpy on a known case")
    func numpyCase() throws {
        // numpy.percentile([3,1,4,1,5,9,2,6,5,3,5], [50, 90, 95, 99]) = [4, 6, 7.5, 8.7]
        let d = try #require(DurationStatistics(nanoseconds: [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5]))
        #expect(d.p50Ns == 4)
        #expect(d.p90Ns == 6)
        #expect(d.p95Ns == 7.5)
        expectClose(d.p99Ns, 8.7, 1e-15)
    }

    @Test("one sample: every figure is the sample, stddev 0")
    func oneSample() throws {
        let d = try #require(DurationStatistics(nanoseconds: [812_413_000]))
        for v in [d.meanNs, d.minNs, d.p50Ns, d.p90Ns, d.p95Ns, d.p99Ns, d.maxNs] { #expect(v == 812_413_000) }
        #expect(d.stddevNs == 0)
        #expect(d.outliers == 0)
        #expect(DurationStatistics(nanoseconds: []) == nil)
    }

    @Test("all equal: exact mean, zero spread, no outliers")
    func allEqual() throws {
        let v: UInt64 = 10_000_000_000_000  // 1e7 ms
        let d = try #require(DurationStatistics(nanoseconds: Array(repeating: v, count: 100)))
        #expect(d.meanNs == Double(v))
        #expect(d.stddevNs == 0)
        #expect(d.p99Ns == Double(v))
        #expect(d.outliers == 0)
    }

    @Test("the mean is exact even when the sum overflows 64 bits")
    func hugeMean() throws {
        let big = UInt64.max / 2
        let d = try #require(DurationStatistics(nanoseconds: [big, big, big, big]))
        #expect(d.meanNs == Double(big))
    }

    @Test("MAD outliers: a far value is one, MAD 0 means none")
    func outliers() throws {
        let d = try #require(DurationStatistics(nanoseconds: [100, 101, 99, 100, 102, 98, 100, 5000]))
        #expect(d.outliers == 1)
        // More than half equal: MAD is 0, the score undefined, nothing flagged.
        let flat = try #require(DurationStatistics(nanoseconds: [100, 100, 100, 100, 5000]))
        #expect(flat.outliers == 0)
    }

    @Test("the two-sided t p-value matches scipy",
          arguments: [
              (0.0, 5.0, 1.0), (1.0, 1.0, 0.5000000000000001), (2.0, 3.0, 0.13932596855884305),
              (-2.5, 10.5, 0.030426272641088575), (0.1, 200.0, 0.920444492504321),
              (5.0, 7.25, 0.0014112006196353448), (12.0, 30.0, 5.580185415199261e-13), (1e-8, 4.0, 0.9999999925),
          ] as [(Double, Double, Double)])
    func studentTAgainstScipy(t: Double, df: Double, expected: Double) {
        // Values from 2 * scipy.stats.t.sf(|t|, df), scipy 1.17.
        let p = Statistics.studentTTwoSidedPValue(t: t, degreesOfFreedom: df)
        #expect(abs(p - expected) <= 1e-12 * max(expected, 1e-300) + 1e-15, "t=\(t) df=\(df): \(p) vs \(expected)")
    }

    @Test("the regularized incomplete beta function matches scipy",
          arguments: [
              (0.5, 0.5, 0.3, 0.36901011956554536), (2, 3, 0.4, 0.5247999999999999), (10, 0.5, 0.9, 0.15164090963470994),
              (0.7, 2.5, 0.01, 0.07939853947155565), (50, 50, 0.5, 0.5000000000000007),
              (3.5, 0.5, 0.999, 0.9356322688440224),
          ] as [(Double, Double, Double, Double)])
    func betaAgainstScipy(a: Double, b: Double, x: Double, expected: Double) {
        // Values from scipy.special.betainc(a, b, x), scipy 1.17.
        expectClose(Statistics.regularizedIncompleteBeta(a: a, b: b, x: x), expected, 1e-13, "I_\(x)(\(a),\(b))")
        #expect(Statistics.regularizedIncompleteBeta(a: a, b: b, x: 0) == 0)
        #expect(Statistics.regularizedIncompleteBeta(a: a, b: b, x: 1) == 1)
    }

    @Test("log-gamma matches libm")
    func logGamma() {
        for x in [0.001, 0.25, 0.5, 1, 1.5, 2, 3.7, 10, 52.5, 171, 1e4, 1e7] {
            expectClose(Statistics.logGamma(x), lgamma(x), 1e-13, "lnΓ(\(x))")
        }
    }

    @Test("Student's t p-values match numeric integration of the density", arguments: Array(UInt64(1)...20))
    func studentTAgainstIntegration(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        let df = [1, 2, 3.5, 9, 30, 120, 1000].randomElement(using: &rng)!
        let t = Double.random(in: -6...6, using: &rng)
        let p = Statistics.studentTTwoSidedPValue(t: t, degreesOfFreedom: df)
        #expect(abs(p - Reference.studentP(t: t, df: df)) < 1e-9, "t=\(t) df=\(df)")
        expectClose(Statistics.studentTCDF(t, degreesOfFreedom: df), t < 0 ? p / 2 : 1 - p / 2, 1e-15)
    }

    @Test("Welch's p-value matches scipy and the integrated reference")
    func welchKnown() throws {
        // scipy.stats.ttest_ind(a, b, equal_var=False).pvalue
        let cases: [([Double], [Double], Double)] = [
            ([812.4, 790.1, 805.3, 830.0, 799.9], [700.2, 710.5, 690.0, 705.7, 699.1, 702.2], 1.4750856809658738e-05),
            ([1, 2, 3, 4], [1, 2, 3, 4.5, 9], 0.40154304149970327),
            ([5, 5, 5], [4, 6, 5, 7], 0.4950253460597111),
        ]
        for (a, b, expected) in cases {
            let p = try #require(Statistics.welchPValue(
                countA: a.count, meanA: Reference.mean(a), varianceA: pow(Reference.stddev(a), 2),
                countB: b.count, meanB: Reference.mean(b), varianceB: pow(Reference.stddev(b), 2)))
            expectClose(p, expected, 1e-9, "welch")
            expectClose(p, Reference.welch(a, b), 1e-8, "welch vs integration")
        }
    }

    @Test("Welch's p-value on random samples matches the integrated reference", arguments: Array(UInt64(1)...20))
    func welchRandom(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        let a = (0..<Int.random(in: 2...100, using: &rng)).map { _ in UInt64.random(in: 1_000_000...2_000_000, using: &rng) }
        let shift = UInt64.random(in: 0...200_000, using: &rng)
        let b = (0..<Int.random(in: 2...100, using: &rng)).map { _ in UInt64.random(in: 1_000_000...2_000_000, using: &rng) + shift }
        let da = try #require(DurationStatistics(nanoseconds: a)), db = try #require(DurationStatistics(nanoseconds: b))
        let p = try #require(Statistics.welchPValue(da, db))
        let expected = try #require(Reference.welch(a.map { Double($0) }, b.map { Double($0) }))
        #expect(abs(p - expected) < 1e-8, "\(p) vs \(expected)")
        #expect(Statistics.welchPValue(da, da).map { abs($0 - 1) < 1e-12 } == true)
    }

    @Test("Welch's p-value is undefined for tiny or constant samples")
    func welchUndefined() throws {
        let one = try #require(DurationStatistics(nanoseconds: [5]))
        let two = try #require(DurationStatistics(nanoseconds: [5, 7]))
        let flatA = try #require(DurationStatistics(nanoseconds: [5, 5, 5]))
        let flatB = try #require(DurationStatistics(nanoseconds: [9, 9]))
        #expect(Statistics.welchPValue(one, two) == nil)
        #expect(Statistics.welchPValue(two, one) == nil)
        #expect(Statistics.welchPValue(flatA, flatB) == nil)
        // One constant side is fine: the other carries the variance.
        #expect(Statistics.welchPValue(flatA, two) != nil)
    }

    @Test("window statistics: failures only, open and abandoned marks, first and last times")
    func streamStatistics() throws {
        let s = try StreamName(agent: "a", cli: "c")
        let now: Int64 = 10_000_000_000_000
        let hour: Int64 = 3_600_000_000_000
        #expect(Statistics.defaultAbandonAfter == .nanoseconds(hour))
        let failed = (0..<3).map { i in
            Event.measure(s, invocation: InvocationID(rawValue: UInt64(i)), durationNs: 5, outcome: .failed,
                          wallTimeNs: Int64(100 - i), pid: 1)
        }
        let marks = [
            Event.mark(s, invocation: InvocationID(rawValue: 10), wallTimeNs: now - hour, pid: 1),      // exactly 1 h: not yet
            Event.mark(s, invocation: InvocationID(rawValue: 11), wallTimeNs: now - hour - 1, pid: 1),  // older: abandoned
            Event.mark(s, invocation: InvocationID(rawValue: 12), wallTimeNs: now, pid: 1),
        ]
        let st = StreamStatistics(stream: s, window: failed, openMarks: marks, now: now, abandonAfter: .nanoseconds(hour))
        #expect(st.count == 3)
        #expect(st.failures == 3)
        #expect(st.durations == nil)
        #expect(st.inFlight == 3)
        #expect(st.abandoned == 1)
        #expect(st.firstAtNs == 98)
        #expect(st.lastAtNs == 100)
        let empty = StreamStatistics(stream: s, window: [], openMarks: marks, now: Int64.min, abandonAfter: .nanoseconds(hour))
        #expect(empty.count == 0 && empty.firstAtNs == nil && empty.lastAtNs == nil && empty.abandoned == 0)
    }
}
