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

    /// Checks the structure of every page reachable in `directory/data.mdb` (see
    /// ``walkPages(in:snapshot:)``): right only while no process commits.
    /// - Throws: `LMDBError` with `MDB_CORRUPTED` naming the first problem, or the
    ///   `errno` of reading the file.
    public static func checkPages(in directory: String) throws(LMDBError) {
        guard let walk = try walkPages(in: directory) else { return }
        if let first = walk.problems.first { throw corrupted(directory, first.description) }
    }

    private func pinnedWalk(extent: PageWalker.Extent) throws(LMDBError) -> PageWalk {
        // The meta page of this transaction is rewritten two commits later; when that
        // happened before it was read, begin again.
        for _ in 0..<100 {
            let walk: PageWalk?
            do {
                walk = try read { txn in try PageWalker.run(path: path + "/data.mdb", snapshot: UInt64(txn.id), extent: extent) }
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
