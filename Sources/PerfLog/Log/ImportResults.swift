import LMDB

/// What one import did with its events. `read` = `added` + `alreadyPresent` +
/// `outsideWindow`.
public struct ImportCounts: Sendable, Hashable, CustomStringConvertible {
    /// Valid events in the input.
    public var read = 0
    /// Events now in the log (a mark whose measure is in the same input is not stored,
    /// since the measure closes it at once, and is counted as its measure is).
    public var added = 0
    /// Events skipped because the log already holds them.
    public var alreadyPresent = 0
    /// Measures skipped because their stream's ring keeps newer ones: see
    /// ``EventLog/importEvents(_:)``.
    public var outsideWindow = 0
    /// Records of the input skipped as invalid (with `skipInvalid`).
    public var invalid = 0

    /// No events.
    public init() {}

    /// `read N, added N, already present N, outside the window N, invalid N`.
    public var description: String {
        "read \(read), added \(added), already present \(alreadyPresent), outside the window \(outsideWindow), invalid \(invalid)"
    }
}

/// What the first pass of an import found: every record checked, none kept.
public struct ImportCheck: Sendable {
    /// The detected format.
    public var format: ImportedEvents.Format
    /// Valid records (events) in the input.
    public var events = 0
    /// Records skipped as invalid (only with `skipInvalid`).
    public var invalid = 0
    /// Why records were skipped: the first ``ImportedEvents/maxProblems`` errors.
    public var problems: [PerfLogError] = []
    /// Bytes of input read.
    public var bytes = 0
    /// The records that can change a log of the ring size the check was told of; `nil`
    /// when it was told none (the second pass then commits every record).
    package var window: ImportWindow?
}

/// How far an import has got, for a progress display.
public enum ImportProgress: Sendable {
    /// The first pass has checked `records` records (`bytes` bytes of input).
    case checking(records: Int, bytes: Int)
    /// The second pass has committed `events` of the `of` valid events.
    case committed(events: Int, of: Int)
}
