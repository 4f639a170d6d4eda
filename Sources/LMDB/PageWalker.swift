/// Walks what is reachable from one meta page of an LMDB data file, reading pages with
/// `pread`, and checks every page before anything on it is followed.
///
/// Each page reached must lie inside the file and inside the last page, carry its own
/// number, have the kind its place in the tree calls for (branch above the record's
/// depth, leaf at it, overflow where a node puts its data), keep its bounds and every
/// node, key and data inside the page, and be reached once only (no cycles, no page in
/// two trees, none also on the free list). Each tree's counts must equal its record.
/// The free list's records must name pages inside the file, once each.
struct PageWalker: ~Copyable {
    /// How much to walk.
    enum Extent {
        /// Everything reachable.
        case full
        /// The meta pages, the root of each tree, the whole main database and, when the
        /// file is shorter than its last page, the whole free list, unless they hold
        /// more than `budget` pages; never the bodies of named databases.
        case head(budget: Int)
        /// Only the meta pages: which is newer, and its transaction id.
        case metas
    }

    /// What a tree is, for the node flags and page kinds it may hold.
    private enum Role {
        case free, main, named, duplicates
    }

    private let file: DataFile
    private let pageSize: Int
    private let lastPage: Int
    private var reached: PageSet
    private var free: PageSet
    private var walk: PageWalk
    private var buffer: [UInt8]

    private var stopped: Bool { walk.problems.count >= PageWalk.maxProblems }

    /// Walks `path`. With `snapshot`, walks the meta page of that transaction and returns
    /// `nil` when neither meta page holds it (or one changed while it was read): the
    /// caller, holding a read transaction of that id, tries again. Without, walks the
    /// newer meta page.
    /// - Throws: `LMDBError` with the `errno` of opening or reading the file.
    static func run(path: String, snapshot: UInt64?, extent: Extent) throws(LMDBError) -> PageWalk? {
        let file = try DataFile(path: path)
        let fileSize = try file.size()
        var result = PageWalk()
        result.fileSize = fileSize
        func stop(_ database: String, _ page: Int?, _ what: String) -> PageWalk {
            result.problems.append(PageWalk.Problem(database: database, page: page, what: what))
            return result
        }

        var head = [UInt8](repeating: 0, count: 152)
        func readMeta(at offset: Int) throws(LMDBError) -> Result<MetaPage, MetaFlaw> {
            let n = try file.read(into: &head, at: offset)
            guard n == head.count else { return .failure(MetaFlaw("is past the end of the file (truncated)")) }
            return head.withUnsafeBytes { MetaPage.parse($0) }
        }
        let meta0: MetaPage
        switch try readMeta(at: 0) {
        case .success(let m): meta0 = m
        case .failure(let flaw): return stop("meta", 0, flaw.what)
        }
        let meta1: MetaPage
        switch try readMeta(at: meta0.pageSize) {
        case .success(let m): meta1 = m
        case .failure(let flaw): return stop("meta", 1, flaw.what)
        }
        guard meta1.pageSize == meta0.pageSize else {
            return stop("meta", 1, "gives page size \(meta1.pageSize), page 0 gives \(meta0.pageSize)")
        }
        let meta: MetaPage
        if let snapshot {
            guard let chosen = [meta0, meta1].first(where: { $0.transaction == snapshot }) else { return nil }
            // A commit may be rewriting that meta page right now: read it again and use
            // it only when both reads agree.
            let again = try readMeta(at: chosen.transaction % 2 == 0 ? 0 : meta0.pageSize)
            guard case .success(let same) = again, same.transaction == chosen.transaction, same.lastPage == chosen.lastPage,
                  same.free.root == chosen.free.root, same.main.root == chosen.main.root,
                  same.main.entries == chosen.main.entries, same.free.entries == chosen.free.entries else { return nil }
            meta = chosen
        } else {
            meta = meta1.transaction > meta0.transaction ? meta1 : meta0
        }
        let which = meta.transaction == meta1.transaction && meta1.transaction > meta0.transaction ? 1 : 0
        result.pageSize = meta.pageSize
        result.lastPage = Int(meta.lastPage)
        result.transaction = meta.transaction
        let lastPage = Int(meta.lastPage)
        if case .metas = extent { return result }
        let filePages = fileSize / meta.pageSize
        // LMDB leaves the final pages unwritten when they were freed in the commit that
        // allocated them, so a file may end before its last page; by far more than one
        // commit can free, it is cut short.
        guard lastPage < filePages + (1 << 20) else {
            return stop("file", nil, "has \(filePages) pages but meta page \(which) names page \(lastPage) (truncated)")
        }
        guard filePages >= 2 else { return stop("file", nil, "is shorter than its two meta pages (truncated)") }
        if let flaw = meta.free.flaw(lastPage: lastPage) { return stop("free list", nil, flaw) }
        if let flaw = meta.main.flaw(lastPage: lastPage) { return stop("main", nil, flaw) }

        var walker = PageWalker(file: file, pageSize: meta.pageSize, lastPage: lastPage, walk: result)
        try walker.walkAll(meta: meta, extent: extent, filePages: filePages)
        return walker.walk
    }

    private init(file: DataFile, pageSize: Int, lastPage: Int, walk: PageWalk) {
        self.file = file
        self.pageSize = pageSize
        self.lastPage = lastPage
        self.walk = walk
        reached = PageSet(last: lastPage)
        free = PageSet(last: lastPage)
        buffer = [UInt8](repeating: 0, count: pageSize)
    }

    private mutating func report(_ database: String, _ page: Int?, _ what: String) {
        if !stopped { walk.problems.append(PageWalk.Problem(database: database, page: page, what: what)) }
    }

    private mutating func walkAll(meta: MetaPage, extent: Extent, filePages: Int) throws(LMDBError) {
        switch extent {
        case .full:
            _ = try walkTree(meta.free, name: "free list", role: .free, descend: true)
            let named = try walkTree(meta.main, name: "main", role: .main, descend: true)
            for (name, record) in named where !stopped {
                if let flaw = record.flaw(lastPage: lastPage) { report(name, nil, flaw); continue }
                _ = try walkTree(record, name: name, role: .named, descend: true)
            }
        case .metas:
            break
        case .head(let budget):
            func small(_ r: TreeRecord) -> Bool { r.branchPages &+ r.leafPages &+ r.overflowPages <= UInt64(budget) }
            let short = filePages <= lastPage
            _ = try walkTree(meta.free, name: "free list", role: .free, descend: short && small(meta.free))
            let named = try walkTree(meta.main, name: "main", role: .main, descend: small(meta.main))
            for (name, record) in named where !stopped {
                if let flaw = record.flaw(lastPage: lastPage) { report(name, nil, flaw); continue }
                _ = try walkTree(record, name: name, role: .named, descend: false)
            }
            if short && small(meta.free) && !stopped {
                for page in filePages...lastPage where !free.contains(page) {
                    report("file", nil, "ends at page \(filePages - 1) but page \(page) is not free (truncated)")
                    break
                }
            }
        }
    }

    /// Walks one tree from its record; returns the named databases it records (the main
    /// database's `F_SUBDATA` nodes), in key order. Without `descend`, checks only the
    /// root page.
    private mutating func walkTree(
        _ record: TreeRecord, name: String, role: Role, descend: Bool
    ) throws(LMDBError) -> [(String, TreeRecord)] {
        var tree = PageWalk.Tree(name: name, depth: record.depth)
        var named: [(String, TreeRecord)] = []
        let problemsBefore = walk.problems.count
        defer { if role != .duplicates { walk.trees.append(tree) } }
        guard record.root != Layout.invalidPage else { return [] }
        let dbFlags = role == .free ? 0 : record.flags
        let dupFixed = role == .duplicates && dbFlags & Layout.dupFixed != 0
        var stack: [(page: Int, level: Int)] = [(Int(record.root), 1)]
        while let (pgno, level) = stack.popLast(), !stopped {
            let isLeaf = level == record.depth
            guard try read(pgno, tree: name) else { continue }
            let page = buffer
            let status: Bool = page.withUnsafeBytes { b in
                checkHeader(b, pgno: pgno, tree: name, isLeaf: isLeaf, level: level, depth: record.depth, leaf2: dupFixed)
            }
            guard status else { continue }
            let flags = page.withUnsafeBytes { $0.u16(10) }
            let lower = Int(page.withUnsafeBytes { $0.u16(12) })
            let count = (lower - Layout.pageHeader) / 2
            if !isLeaf {
                tree.branchPages += 1
                var children: [Int] = []
                for i in 0..<count {
                    guard let (offset, _) = page.withUnsafeBytes({ node($0, i, pgno: pgno, tree: name) }) else { break }
                    let child = page.withUnsafeBytes { b in
                        UInt64(b.u16(offset)) | UInt64(b.u16(offset + 2)) << 16 | UInt64(b.u16(offset + 4)) << 32
                    }
                    guard child >= 2 && child <= UInt64(lastPage) else {
                        report(name, pgno, "node \(i) points to page \(child), outside pages 2…\(lastPage)")
                        break
                    }
                    children.append(Int(child))
                }
                guard descend else { continue }
                for child in children.reversed() { stack.append((child, level + 1)) }
                continue
            }
            tree.leafPages += 1
            if flags & Layout.leaf2 != 0 {
                let keySize = Int(record.pad)
                if keySize < 1 || Layout.pageHeader + count * keySize > pageSize {
                    report(name, pgno, "holds \(count) keys of \(keySize) bytes, more than the page")
                } else {
                    tree.entries += count
                }
                continue
            }
            var subDatabases: [(Int, TreeRecord)] = []
            for i in 0..<count where !stopped {
                guard let (offset, keySize) = page.withUnsafeBytes({ node($0, i, pgno: pgno, tree: name) }) else { break }
                let (nodeFlags, dataSize) = page.withUnsafeBytes { b in
                    (b.u16(offset + 4), Int(b.u16(offset)) | Int(b.u16(offset + 2)) << 16)
                }
                let dataAt = offset + Layout.nodeHeader + keySize
                let allowed: [UInt16] = switch role {
                case .free: [0, Layout.bigData]
                case .duplicates: [0]
                case .main where dbFlags & Layout.dupSort == 0: [0, Layout.bigData, Layout.subData]
                case .main, .named:
                    dbFlags & Layout.dupSort != 0
                        ? [0, Layout.bigData, Layout.dupData, Layout.dupData | Layout.subData] : [0, Layout.bigData]
                }
                guard allowed.contains(nodeFlags) else {
                    report(name, pgno, "node \(i) has flags 0x\(String(nodeFlags, radix: 16)), impossible here")
                    break
                }
                if role == .free && keySize != 8 {
                    report(name, pgno, "node \(i) has a key of \(keySize) bytes, not a transaction id")
                    break
                }
                var data: [UInt8]?
                if nodeFlags == Layout.bigData {
                    guard dataAt + 8 <= pageSize else {
                        report(name, pgno, "node \(i)'s overflow page number runs past the end of the page")
                        break
                    }
                    let first = page.withUnsafeBytes { $0.u64(dataAt) }
                    guard let (pages, bytes) = try overflow(first, dataSize: dataSize, tree: name, from: pgno, node: i,
                                                            wantData: role == .free && descend) else { break }
                    tree.overflowPages += pages
                    data = bytes
                } else {
                    guard dataAt + dataSize <= pageSize else {
                        report(name, pgno, "node \(i)'s data of \(dataSize) bytes runs past the end of the page")
                        break
                    }
                    if role == .free { data = Array(page[dataAt..<(dataAt + dataSize)]) }
                }
                switch nodeFlags {
                case Layout.subData, Layout.dupData | Layout.subData:
                    guard dataSize == Layout.recordSize else {
                        report(name, pgno, "node \(i) holds a database record of \(dataSize) bytes")
                        break
                    }
                    let sub = page.withUnsafeBytes { TreeRecord($0, at: dataAt) }
                    if nodeFlags == Layout.subData {
                        named.append((String(decoding: page[(offset + 8)..<dataAt], as: UTF8.self), sub))
                        tree.entries += 1
                    } else {
                        subDatabases.append((i, sub))
                        tree.entries += Int(clamping: sub.entries)
                    }
                case Layout.dupData:
                    let items = page.withUnsafeBytes { b in
                        subPage(UnsafeRawBufferPointer(rebasing: b[dataAt..<(dataAt + dataSize)]),
                                tree: name, pgno: pgno, node: i, dupFixed: dbFlags & Layout.dupFixed != 0)
                    }
                    guard let items else { break }
                    tree.entries += items
                default:
                    tree.entries += 1
                }
                if let data, role == .free { freeRecord(data, tree: name, pgno: pgno, node: i) }
            }
            for (i, sub) in subDatabases where !stopped && descend {
                let label = "\(name) (duplicates of node \(i) on page \(pgno))"
                if let flaw = sub.flaw(lastPage: lastPage) { report(label, nil, flaw); continue }
                _ = try walkTree(sub, name: label, role: .duplicates, descend: true)
                tree.duplicatePages += lastSubPages
            }
        }
        guard descend, walk.problems.count == problemsBefore else { return named }
        let counted: [(String, UInt64, Int)] = [
            ("branch pages", record.branchPages, tree.branchPages), ("leaf pages", record.leafPages, tree.leafPages),
            ("overflow pages", record.overflowPages, tree.overflowPages), ("entries", record.entries, tree.entries),
        ]
        for (what, recorded, found) in counted where recorded != UInt64(found) {
            report(name, nil, "its record counts \(recorded) \(what), the tree holds \(found)")
        }
        if role == .duplicates { lastSubPages = tree.branchPages + tree.leafPages + tree.overflowPages }
        return named
    }

    /// Pages of the sub-database walked last (a tree of duplicates is not listed).
    private var lastSubPages = 0

    /// Marks `pgno` reached and reads it into `buffer`; false (with a problem reported)
    /// when it was reached before, is on the free list, or is past the end of the file.
    private mutating func read(_ pgno: Int, tree: String) throws(LMDBError) -> Bool {
        guard reached.insert(pgno) else {
            report(tree, pgno, "is reached twice (a cycle, or a page in two places)")
            return false
        }
        walk.reachedPages += 1
        if free.contains(pgno) { report(tree, pgno, "is in use and also on the free list"); return false }
        let n = try file.read(into: &buffer, at: pgno * pageSize)
        guard n == pageSize else { report(tree, pgno, "is past the end of the file (truncated)"); return false }
        return true
    }

    private static func kind(_ flags: UInt16) -> String {
        switch flags & ~(Layout.dirty | Layout.keep) {
        case Layout.branch: "a branch page"
        case Layout.leaf: "a leaf page"
        case Layout.leaf | Layout.leaf2: "a LEAF2 page"
        case Layout.overflow: "an overflow page"
        case Layout.meta: "a meta page"
        case 0: "a page without a kind"
        default: "a page with flags 0x\(String(flags, radix: 16))"
        }
    }

    /// Checks the header of the page in `b`: number, kind, bounds.
    private mutating func checkHeader(
        _ b: UnsafeRawBufferPointer, pgno: Int, tree: String, isLeaf: Bool, level: Int, depth: Int, leaf2: Bool
    ) -> Bool {
        let number = b.u64(0)
        guard number == UInt64(pgno) else { report(tree, pgno, "says it is page \(number)"); return false }
        let flags = b.u16(10)
        let core = flags & ~(Layout.dirty | Layout.keep)
        let fits = isLeaf ? core == Layout.leaf || (leaf2 && core == Layout.leaf | Layout.leaf2) : core == Layout.branch
        guard fits else {
            report(tree, pgno, "is \(PageWalker.kind(flags)) where a \(isLeaf ? "leaf" : "branch") page belongs (level \(level) of \(depth))")
            return false
        }
        let lower = Int(b.u16(12)), upper = Int(b.u16(14))
        guard lower >= Layout.pageHeader, lower <= upper, upper <= pageSize, (lower - Layout.pageHeader) % 2 == 0 else {
            report(tree, pgno, "has bounds \(lower)…\(upper) in a page of \(pageSize) bytes")
            return false
        }
        if !isLeaf && lower == Layout.pageHeader { report(tree, pgno, "is a branch page without children"); return false }
        return true
    }

    /// The offset and key size of node `i` of the page in `b`, once both are checked
    /// to lie inside the page.
    private mutating func node(_ b: UnsafeRawBufferPointer, _ i: Int, pgno: Int, tree: String) -> (Int, Int)? {
        let upper = Int(b.u16(14))
        let offset = Int(b.u16(Layout.pageHeader + 2 * i))
        guard offset >= upper, offset + Layout.nodeHeader <= pageSize else {
            report(tree, pgno, "node \(i) is at offset \(offset), outside \(upper)…\(pageSize)")
            return nil
        }
        let keySize = Int(b.u16(offset + 6))
        guard offset + Layout.nodeHeader + keySize <= pageSize else {
            report(tree, pgno, "node \(i)'s key of \(keySize) bytes runs past the end of the page")
            return nil
        }
        return (offset, keySize)
    }

    /// Checks the overflow run at `first` that holds `dataSize` bytes; returns its page
    /// count, and its data when asked.
    private mutating func overflow(
        _ first: UInt64, dataSize: Int, tree: String, from pgno: Int, node i: Int, wantData: Bool
    ) throws(LMDBError) -> (Int, [UInt8]?)? {
        guard first >= 2 && first <= UInt64(lastPage) else {
            report(tree, pgno, "node \(i) puts its data on page \(first), outside pages 2…\(lastPage)")
            return nil
        }
        let start = Int(first)
        guard reached.insert(start) else { report(tree, start, "is reached twice (a cycle, or a page in two places)"); return nil }
        walk.reachedPages += 1
        if free.contains(start) { report(tree, start, "is in use and also on the free list"); return nil }
        var header = [UInt8](repeating: 0, count: Layout.pageHeader)
        let n = try file.read(into: &header, at: start * pageSize)
        guard n == Layout.pageHeader else { report(tree, start, "is past the end of the file (truncated)"); return nil }
        let (number, flags, pages) = header.withUnsafeBytes { ($0.u64(0), $0.u16(10), Int($0.u32(12))) }
        guard number == first else { report(tree, start, "says it is page \(number)"); return nil }
        guard flags & ~(Layout.dirty | Layout.keep) == Layout.overflow else {
            report(tree, start, "is \(PageWalker.kind(flags)) where node \(i) of page \(pgno) puts its data")
            return nil
        }
        let needed = (Layout.pageHeader - 1 + dataSize) / pageSize + 1
        guard pages >= needed, start + pages - 1 <= lastPage else {
            report(tree, start, "is a run of \(pages) pages for \(dataSize) bytes, ending past page \(lastPage)")
            return nil
        }
        guard (start + pages) * pageSize <= walk.fileSize else {
            report(tree, start, "is a run of \(pages) pages past the end of the file (truncated)")
            return nil
        }
        for page in (start + 1)..<(start + pages) {
            guard reached.insert(page) else { report(tree, page, "is reached twice (inside an overflow run from page \(start))"); return nil }
            if free.contains(page) { report(tree, page, "is in use (overflow run from page \(start)) and also on the free list"); return nil }
        }
        walk.reachedPages += pages - 1
        guard wantData else { return (pages, nil) }
        var data = [UInt8](repeating: 0, count: dataSize)
        let got = try file.read(into: &data, at: start * pageSize + Layout.pageHeader)
        guard got == dataSize else { report(tree, start, "is past the end of the file (truncated)"); return nil }
        return (pages, data)
    }

    /// Checks a sub-page of sorted duplicates (`F_DUPDATA` without `F_SUBDATA`) held in a
    /// node's data; returns how many duplicates it holds.
    private mutating func subPage(_ b: UnsafeRawBufferPointer, tree: String, pgno: Int, node i: Int, dupFixed: Bool) -> Int? {
        let size = b.count
        func bad(_ what: String) -> Int? { report(tree, pgno, "node \(i)'s sub-page \(what)"); return nil }
        guard size >= Layout.pageHeader else { return bad("has \(size) bytes") }
        let flags = b.u16(10) & ~(Layout.dirty | Layout.keep)
        guard flags == Layout.leaf | Layout.subPage || (dupFixed && flags == Layout.leaf | Layout.leaf2 | Layout.subPage) else {
            return bad("has flags 0x\(String(b.u16(10), radix: 16))")
        }
        let lower = Int(b.u16(12)), upper = Int(b.u16(14))
        guard lower >= Layout.pageHeader, lower <= upper, upper <= size, (lower - Layout.pageHeader) % 2 == 0 else {
            return bad("has bounds \(lower)…\(upper) in \(size) bytes")
        }
        let count = (lower - Layout.pageHeader) / 2
        if flags & Layout.leaf2 != 0 {
            let keySize = Int(b.u16(8))
            guard keySize >= 1, Layout.pageHeader + count * keySize <= size else {
                return bad("holds \(count) keys of \(keySize) bytes in \(size) bytes")
            }
            return count
        }
        for k in 0..<count {
            let offset = Int(b.u16(Layout.pageHeader + 2 * k))
            guard offset >= upper, offset + Layout.nodeHeader <= size else { return bad("has node \(k) at offset \(offset)") }
            let keySize = Int(b.u16(offset + 6)), dataSize = Int(b.u16(offset)) | Int(b.u16(offset + 2)) << 16
            guard b.u16(offset + 4) == 0 else { return bad("has node \(k) with flags 0x\(String(b.u16(offset + 4), radix: 16))") }
            guard offset + Layout.nodeHeader + keySize + dataSize <= size else { return bad("has node \(k) running past its end") }
        }
        return count
    }

    /// Takes in one free-list record: a count, then that many page numbers.
    private mutating func freeRecord(_ data: [UInt8], tree: String, pgno: Int, node i: Int) {
        data.withUnsafeBytes { b in
            guard b.count >= 8 else { report(tree, pgno, "node \(i) is a free-list record of \(b.count) bytes"); return }
            let count = b.u64(0)
            guard count <= UInt64(b.count / 8 - 1) else {
                report(tree, pgno, "node \(i) lists \(count) pages in a record of \(b.count) bytes")
                return
            }
            for k in 1...max(1, Int(count)) where count > 0 && !stopped {
                let listed = b.u64(8 * k)
                guard listed >= 2 && listed <= UInt64(lastPage) else {
                    report(tree, pgno, "node \(i) lists page \(listed) as free, outside pages 2…\(lastPage)")
                    return
                }
                let p = Int(listed)
                if !free.insert(p) { report(tree, pgno, "node \(i) lists page \(p) as free twice"); return }
                if reached.contains(p) { report(tree, pgno, "node \(i) lists page \(p) as free, but it is in use"); return }
            }
            walk.freePages += Int(count)
        }
    }
}
