import LMDB
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension EventLog {
    /// Walks every page in use in the log's data file, reading it without mapping it
    /// (see `Environment.walkPages()`), so that damage anywhere in what the log can reach
    /// is reported rather than followed; free pages are not read. It reads everything in
    /// use: `check` does this, while opening checks only the head of the file.
    /// - Returns: what the walk counted (pages in use per database, free pages).
    /// - Throws: ``PerfLogError/corrupt(what:)`` naming the first problems; `storage`
    ///   when the file cannot be read.
    @discardableResult
    public func checkPages() throws(PerfLogError) -> PageWalk {
        let walk = try PerfLogError.wrapping(operation: "checking the log's pages") {
            try using { opened in try opened.environment.walkPages() }
        }
        try EventLog.throwProblems(walk)
        return walk
    }

    /// Walks every page in use in the log at `path` (see ``checkPages()``) before anything
    /// in this process opens it: without opening it while no commit ends meanwhile (so a
    /// damaged log is left untouched), else opened read-only with its snapshot pinned.
    /// Does nothing when there is no LMDB environment at `path`.
    /// - Returns: what the walk counted; `nil` when there is no environment.
    /// - Throws: ``PerfLogError``: `corrupt` naming the first problems, or why the log
    ///   cannot be opened.
    @discardableResult
    public static func checkPages(at path: String) throws(PerfLogError) -> PageWalk? {
        guard Environment.containsEnvironment(at: path) else { return nil }
        let settled: PageWalk?
        do { settled = try Environment.walkPagesIfSettled(in: path) } catch { throw .storage(error, operation: "checking the log's pages") }
        if let walk = settled {
            try throwProblems(walk)
            return walk
        }
        var options = Options()
        options.create = false
        options.readOnly = true
        return try EventLog(path: path, options: options).checkPages()
    }

    /// The cheap check of an open (`Environment.checkHead(in:)`), before the environment
    /// is opened.
    static func checkHead(at path: String) throws(PerfLogError) {
        guard Environment.containsEnvironment(at: path) else { return }
        do {
            try Environment.checkHead(in: path)
        } catch {
            if error.code == .corrupted { throw .corrupt(what: error.context ?? "data.mdb") }
            throw .storage(error, operation: "checking the log's pages")
        }
    }

    static func throwProblems(_ walk: PageWalk) throws(PerfLogError) {
        guard let first = walk.problems.first else { return }
        let more = walk.problems.count - 1
        throw .corrupt(what: "data.mdb: \(first)" + (more == 0 ? "" : " (and \(more)\(more + 1 == PageWalk.maxProblems ? " or more" : "") more problems)"))
    }
}
