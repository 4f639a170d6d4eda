/// The figures of an earlier `agent-performance.json`, for the report's "change against
/// a baseline" section, and how each stream changed since.
public struct ReportBaseline: Sendable, Hashable {
    /// One stream's figures in the baseline, as its file gives them.
    public struct Figures: Sendable, Hashable {
        /// Successful measures in the baseline's window (`count − failures`).
        public var okCount: Int
        /// Mean successful duration, nanoseconds; `nil` when the file has none.
        public var meanNs: Double?
        /// Sample standard deviation of the successful durations, nanoseconds.
        public var stddevNs: Double?
        /// Median, nanoseconds.
        public var p50Ns: Double?
        /// 95th percentile, nanoseconds.
        public var p95Ns: Double?
    }

    /// When the baseline was generated (its `generatedAt`), nanoseconds since the Unix
    /// epoch; `nil` when the file does not say.
    public var generatedAtNs: Int64?
    /// The baseline's streams.
    public var streams: [StreamName: Figures]

    /// Reads the streams of an `agent-performance.json` (schema version 1).
    /// - Throws: ``PerfLogError/invalidInput(field:rule:)`` with `field` "baseline" when
    ///   `json` is not such a file: not JSON, another schema version, no `streams` array,
    ///   or a stream without valid names.
    public init(json: [UInt8]) throws(PerfLogError) {
        let document: JSONValue
        do {
            document = try json.withUnsafeBufferPointer { b throws(JSONSyntaxError) in
                var parser = JSONParser(b, from: 0, to: b.count)
                return try parser.document()
            }
        } catch {
            throw .invalidInput(field: "baseline", rule: "is not JSON (\(error.message) at byte \(error.offset))")
        }
        guard case .object(let members) = document else {
            throw .invalidInput(field: "baseline", rule: "must be an agent-performance.json object, found \(document.typeName)")
        }
        func member(_ name: String, of pairs: [(key: String, value: JSONValue)]) -> JSONValue? {
            pairs.first { $0.key == name }?.value
        }
        guard case .number(let version)? = member("schemaVersion", of: members), version.text == "1" else {
            throw .invalidInput(field: "baseline", rule: "must be an agent-performance.json of schema version 1")
        }
        guard case .array(let list)? = member("streams", of: members) else {
            throw .invalidInput(field: "baseline", rule: "has no \"streams\" array")
        }
        if case .string(let text)? = member("generatedAt", of: members) { generatedAtNs = Timestamp.parse(text) }
        var streams: [StreamName: Figures] = [:]
        for (i, item) in list.enumerated() {
            guard case .object(let fields) = item,
                  case .string(let agent)? = member("agent", of: fields), case .string(let cli)? = member("cli", of: fields),
                  let name = try? StreamName(agent: agent, cli: cli)
            else { throw .invalidInput(field: "baseline", rule: "stream \(i + 1) has no valid agent and cli") }
            func number(_ key: String) -> Double? {
                if case .number(let n)? = member(key, of: fields) { return Double(n.text) }
                return nil
            }
            let ms = 1e6
            let count = Int(number("count") ?? 0), failures = Int(number("failures") ?? 0)
            streams[name] = Figures(okCount: max(0, count - failures), meanNs: number("meanMs").map { $0 * ms },
                                    stddevNs: number("stddevMs").map { $0 * ms }, p50Ns: number("p50Ms").map { $0 * ms },
                                    p95Ns: number("p95Ms").map { $0 * ms })
        }
        self.streams = streams
    }

    /// How one stream's mean changed against the baseline.
    public struct Change: Sendable, Hashable {
        /// The stream.
        public var stream: StreamName
        /// The baseline's figures.
        public var before: Figures
        /// The mean now, nanoseconds.
        public var meanNs: Double
        /// (now − before) / before: −0.1 is 10% faster; `nil` when the baseline's mean is 0.
        public var relativeChange: Double?
        /// Welch's two-sided p-value of the difference of the means (from both files'
        /// counts, means and standard deviations); `nil` when either side has fewer than
        /// two successful measures or neither has any spread.
        public var pValue: Double?
    }

    /// The change of every stream of `projection` that has a mean both now and in the
    /// baseline, in the projection's order.
    public func changes(_ projection: Projection) -> [Change] {
        projection.streams.compactMap { s in
            guard let d = s.durations, let before = streams[s.stream], let beforeMean = before.meanNs else { return nil }
            let sd = before.stddevNs ?? 0
            let p = Statistics.welchPValue(countA: d.count, meanA: d.meanNs, varianceA: d.varianceNs2,
                                           countB: before.okCount, meanB: beforeMean, varianceB: sd * sd)
            return Change(stream: s.stream, before: before, meanNs: d.meanNs,
                          relativeChange: beforeMean > 0 ? (d.meanNs - beforeMean) / beforeMean : nil, pValue: p)
        }
    }
}
