import ArgumentParser
import PerfLog

/// `--since` and `--until`: which part of the log's history a reading command looks at.
struct TimeRangeOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: ArgumentHelp(
        "Only what happened at or after this time.",
        discussion: "An ISO 8601 time (2026-12-01T09:30:00Z, with an offset such as +01:00, or a date, 2026-12-01 for midnight UTC) or an age: 2h, 30m, 90s mean that long before now.",
        valueName: "time"))
    var since: String?

    @Option(parsing: .unconditional, help: ArgumentHelp(
        "Only what happened before this time (same forms as --since).",
        valueName: "time"))
    var until: String?

    /// The range the flags select, ages counted back from `now` (nanoseconds since the
    /// Unix epoch).
    /// - Throws: ``CLIFailure`` (exit 65) naming the flag when a value is neither a time
    ///   nor an age, or when `--since` is not before `--until`.
    func range(now: Int64) throws(CLIFailure) -> TimeRange {
        let range = TimeRange(since: try since.map { t throws(CLIFailure) in try Self.time(t, "--since", now: now) },
                              until: try until.map { t throws(CLIFailure) in try Self.time(t, "--until", now: now) })
        if let s = range.since, let u = range.until, s >= u {
            throw .invalid("--since", "must be before --until (got \(since ?? "") and \(until ?? ""))")
        }
        return range
    }

    /// Whether either flag was given.
    var isSet: Bool { since != nil || until != nil }

    /// The flags as typed, for messages; empty without them.
    var described: String {
        [since.map { "--since \($0)" }, until.map { "--until \($0)" }].compactMap { $0 }.joined(separator: " ")
    }

    /// One value of `--since` or `--until`.
    static func time(_ text: String, _ flag: String, now: Int64) throws(CLIFailure) -> Int64 {
        let trimmed = text.trimmingSpaces
        if let t = Timestamp.parse(trimmed) { return t }
        // Anything starting like a date is a time with a mistake in it, not an age.
        let looksLikeDate = trimmed.utf8.count >= 5 && trimmed.utf8.prefix(4).allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
            && trimmed.utf8.dropFirst(4).first == UInt8(ascii: "-")
        let age: UInt64
        do throws(CLIFailure) {
            guard !looksLikeDate else { throw CLIFailure.invalid(flag, "") }
            age = try DurationParser.nanoseconds(trimmed, field: flag, bareUnit: nil)
        } catch {
            throw .invalid(flag, "must be an ISO 8601 time (2026-12-01T09:30:00Z or 2026-12-01) or an age such as 2h or 30m (got \(text))")
        }
        let (t, overflow) = now.subtractingReportingOverflow(Int64(clamping: age))
        return overflow ? .min : t
    }
}
