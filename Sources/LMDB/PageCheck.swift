extension Environment {
    /// Walks everything reachable from a meta page of `directory/data.mdb`, reading the
    /// file (never mapping it) and checking each page before following it; see
    /// ``PageWalk``. Free and unreachable pages are never read.
    ///
    /// With `snapshot`, walks the meta page of that transaction and returns `nil` when
    /// neither meta page holds it; a caller that holds a read transaction of that id
    /// (``walkPages()``) sees pages no writer can reuse meanwhile. Without, walks the
    /// newer meta page: right only while no process commits.
    /// - Throws: `LMDBError` with the `errno` of opening or reading the file; what is
    ///   wrong with the file is in the result's ``PageWalk/problems``.
    public static func walkPages(in directory: String, snapshot: Int? = nil) throws(LMDBError) -> PageWalk? {
        try PageWalker.run(path: directory + "/data.mdb", snapshot: snapshot.map { UInt64($0) }, extent: .full)
    }

    /// Walks every page reachable in this environment's current snapshot, holding a read
    /// transaction meanwhile so that no writer can reuse those pages (see
    /// ``walkPages(in:snapshot:)``). It reads the whole of what is in use: the deep
    /// check, for `check` commands.
    /// - Throws: `LMDBError` from beginning the transaction or reading the file; `EAGAIN`
    ///   when commits replaced both meta pages before they could be read, every time.
    public func walkPages() throws(LMDBError) -> PageWalk {
        try pinnedWalk(extent: .full)
    }

    /// The cheap check that an open runs: both meta pages, the root page of the free
    /// list and of every named database, the whole main database, and, when the file
    /// ends before its last page, that the missing pages are free (each of the last two
    /// only while it holds at most 64 pages). A few reads whatever the file's size; it
    /// catches an overwritten head of the file or a file cut short before its roots, not
    /// damage deeper down (``walkPages()`` finds that).
    /// - Throws: `LMDBError` with `MDB_CORRUPTED` naming the first problem, or from
    ///   reading the file.
    public func checkHead() throws(LMDBError) {
        let walk = try pinnedWalk(extent: .head(budget: 64))
        if let first = walk.problems.first { throw Environment.corrupted(path, first.description) }
    }

    /// Walks `directory/data.mdb` like ``walkPages(in:snapshot:)`` without opening the
    /// environment (nothing is created, locked or written), and returns the walk only
    /// when no commit ended meanwhile: pages of the newest snapshot are never rewritten,
    /// so what it found is true of the file. Returns `nil` when a commit ended (walk again,
    /// or pin a snapshot with ``walkPages()``).
    /// - Throws: `LMDBError` with the `errno` of opening or reading the file.
    public static func walkPagesIfSettled(in directory: String, head: Bool = false) throws(LMDBError) -> PageWalk? {
        let path = directory + "/data.mdb"
        guard let walk = try PageWalker.run(path: path, snapshot: nil, extent: head ? .head(budget: 64) : .full) else { return nil }
        // A file whose meta pages are unreadable has no commits to wait for.
        if walk.problems.first?.database == "meta" { return walk }
        guard let after = try PageWalker.run(path: path, snapshot: nil, extent: .metas),
              after.problems.isEmpty, after.transaction == walk.transaction else { return nil }
        return walk
    }

    /// The cheap check of ``checkHead()`` without opening the environment, so that a
    /// damaged file is refused before anything (LMDB's lock file included) is touched.
    /// Walks again while commits end during the walk, up to 100 times, then gives up
    /// silently (the check of an open environment still runs).
    /// - Throws: `LMDBError` with `MDB_CORRUPTED` naming the first problem, or the
    ///   `errno` of reading the file.
    public static func checkHead(in directory: String) throws(LMDBError) {
        for _ in 0..<100 {
            guard let walk = try walkPagesIfSettled(in: directory, head: true) else { continue }
            if let first = walk.problems.first { throw corrupted(directory, first.description) }
            return
        }
    }

    /// Checks the structure of every page reachable in `directory/data.mdb` (see
    /// ``walkPagesIfSettled(in:head:)``), walking again while commits end meanwhile.
    /// - Throws: `LMDBError` with `MDB_CORRUPTED` naming the first problem, `EAGAIN`
    ///   when commits kept ending, or the `errno` of reading the file.
    public static func checkPages(in directory: String) throws(LMDBError) {
        for _ in 0..<100 {
            guard let walk = try walkPagesIfSettled(in: directory) else { continue }
            if let first = walk.problems.first { throw corrupted(directory, first.description) }
            return
        }
        throw LMDBError(.wouldBlock, operation: "check", context: "\(directory): commits kept replacing the meta pages")
    }

    private func pinnedWalk(extent: PageWalker.Extent) throws(LMDBError) -> PageWalk {
        // The meta page of this transaction is rewritten two commits later; when that
        // happened before it was read, begin again.
        for _ in 0..<100 {
            let walk: PageWalk?
            do {
                walk = try read { txn in try PageWalker.run(path: path + "/data.mdb", snapshot: txn.id, extent: extent) }
            } catch let error as LMDBError {
                throw error
            } catch {
                throw LMDBError(.invalid, operation: "check", context: "\(path): \(error)")
            }
            if let walk { return walk }
        }
        throw LMDBError(.wouldBlock, operation: "check", context: "\(path): commits kept replacing the meta pages")
    }

    static func corrupted(_ directory: String, _ what: String) -> LMDBError {
        LMDBError(.corrupted, operation: "check", context: "\(directory)/data.mdb: \(what)")
    }
}
