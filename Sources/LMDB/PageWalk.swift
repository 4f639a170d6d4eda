/// What a walk of an LMDB data file found: the snapshot it walked, page and entry
/// counts per database, and the first problems (``Environment/walkPages(in:snapshot:)``).
///
/// Only what is reachable from the meta page of the snapshot is read: the free list and
/// the main database from their roots, every named database the main database records,
/// and sub-databases of sorted duplicates. Pages that are free or unreachable are never
/// required to hold anything.
public struct PageWalk: Sendable, Hashable {
    /// One B-tree and what the walk counted in it.
    public struct Tree: Sendable, Hashable {
        /// `"free list"`, `"main"`, or the named database's name.
        public var name: String
        /// The depth its record gives (1 for a single leaf page, 0 when empty).
        public var depth: Int
        /// Branch pages reached.
        public var branchPages = 0
        /// Leaf pages reached.
        public var leafPages = 0
        /// Overflow pages reached (every page of each overflow run).
        public var overflowPages = 0
        /// Data items: one per leaf node, one per duplicate in databases of sorted
        /// duplicates.
        public var entries = 0
        /// Pages of the sub-databases holding its sorted duplicates; LMDB counts them in
        /// each sub-database's own record, not in this tree's.
        public var duplicatePages = 0
    }

    /// One thing that is wrong, and where.
    public struct Problem: Sendable, Hashable, CustomStringConvertible {
        /// The tree it is in (`"free list"`, `"main"`, a database name), or `"meta"`,
        /// `"file"`.
        public var database: String
        /// The page number, when the problem is on a page.
        public var page: Int?
        /// What is wrong.
        public var what: String

        /// E.g. `database "events", page 140: says it is page 0`.
        public var description: String {
            let place = database == "meta" || database == "file" ? database
                : database == "free list" || database == "main" ? "the \(database)" : "database \"\(database)\""
            if let page { return "\(place), page \(page): \(what)" }
            return "\(place): \(what)"
        }
    }

    /// The page size in bytes.
    public var pageSize = 0
    /// The last page number the walked meta page names.
    public var lastPage = 0
    /// The transaction id of the walked meta page.
    public var transaction: UInt64 = 0
    /// The file's size in bytes.
    public var fileSize = 0
    /// The trees walked: the free list, the main database, then each named database in
    /// key order (and with a partial walk, only what was looked at).
    public var trees: [Tree] = []
    /// Pages the free list names.
    public var freePages = 0
    /// Pages reached from the meta page, meta pages not included.
    public var reachedPages = 0
    /// The first problems found, at most ``maxProblems``.
    public var problems: [Problem] = []

    /// How many problems a walk collects before it stops.
    public static let maxProblems = 20

    /// Whether no problem was found.
    public var isSound: Bool { problems.isEmpty }

    /// The tree named `name`, if it was walked.
    public func tree(_ name: String) -> Tree? { trees.first { $0.name == name } }
}

/// The layout constants of LMDB 0.9's file format that the walker needs (mdb.c).
enum Layout {
    static let pageHeader = 16          // PAGEHDRSZ
    static let nodeHeader = 8           // NODESIZE
    static let recordSize = 48          // sizeof(MDB_db)
    static let magic: UInt32 = 0xBEEF_C0DE
    static let version: UInt32 = 1      // MDB_DATA_VERSION
    static let invalidPage = UInt64.max // P_INVALID: the root of an empty tree
    static let maxDepth = 32            // CURSOR_STACK
    // Page flags.
    static let branch: UInt16 = 0x01, leaf: UInt16 = 0x02, overflow: UInt16 = 0x04, meta: UInt16 = 0x08
    static let dirty: UInt16 = 0x10, leaf2: UInt16 = 0x20, subPage: UInt16 = 0x40, keep: UInt16 = 0x8000
    // Node flags.
    static let bigData: UInt16 = 0x01, subData: UInt16 = 0x02, dupData: UInt16 = 0x04
    // Database flags.
    static let dupSort: UInt16 = 0x04, dupFixed: UInt16 = 0x10
}

/// An `MDB_db` record: one B-tree's root, depth and counts.
struct TreeRecord {
    var pad: UInt32 = 0
    var flags: UInt16 = 0
    var depth = 0
    var branchPages: UInt64 = 0
    var leafPages: UInt64 = 0
    var overflowPages: UInt64 = 0
    var entries: UInt64 = 0
    var root: UInt64 = Layout.invalidPage

    init(_ b: UnsafeRawBufferPointer, at o: Int) {
        pad = b.u32(o)
        flags = b.u16(o + 4)
        depth = Int(b.u16(o + 6))
        branchPages = b.u64(o + 8)
        leafPages = b.u64(o + 16)
        overflowPages = b.u64(o + 24)
        entries = b.u64(o + 32)
        root = b.u64(o + 40)
    }

    /// What is impossible about the record in a file whose last page is `lastPage`.
    func flaw(lastPage: Int) -> String? {
        let pages = branchPages &+ leafPages &+ overflowPages
        if root == Layout.invalidPage {
            return depth == 0 && pages == 0 && entries == 0 ? nil
                : "its record has no root but depth \(depth), \(pages) pages and \(entries) entries"
        }
        if root < 2 || root > UInt64(lastPage) { return "its root page \(root) is outside pages 2…\(lastPage)" }
        if depth < 1 || depth > Layout.maxDepth { return "its record gives depth \(depth)" }
        if branchPages > UInt64(lastPage) || leafPages > UInt64(lastPage) || overflowPages > UInt64(lastPage)
            || pages > UInt64(lastPage) {
            return "its record counts \(pages) pages in a file of \(lastPage + 1)"
        }
        if (depth == 1) != (branchPages == 0) { return "its record gives depth \(depth) with \(branchPages) branch pages" }
        return nil
    }
}

/// The parts of an `MDB_meta` page the walker uses.
struct MetaPage {
    var pageSize: Int
    var lastPage: UInt64
    var transaction: UInt64
    var free: TreeRecord
    var main: TreeRecord

    /// Parses the meta page in `b` (page header included), or says what is wrong with it.
    static func parse(_ b: UnsafeRawBufferPointer) -> Result<MetaPage, MetaFlaw> {
        guard b.count >= 152 else { return .failure(MetaFlaw("is cut short")) }
        guard b.u16(10) & Layout.meta != 0 else { return .failure(MetaFlaw("is not marked as a meta page")) }
        guard b.u32(16) == Layout.magic else { return .failure(MetaFlaw("has no LMDB magic")) }
        guard b.u32(20) == Layout.version else { return .failure(MetaFlaw("has format version \(b.u32(20))")) }
        let meta = MetaPage(
            pageSize: Int(b.u32(40)), lastPage: b.u64(136), transaction: b.u64(144),
            free: TreeRecord(b, at: 40), main: TreeRecord(b, at: 88))
        let size = meta.pageSize
        guard size >= 512, size <= 65536, size & (size - 1) == 0 else { return .failure(MetaFlaw("gives page size \(size)")) }
        guard meta.lastPage >= 1, meta.lastPage < UInt64(Int.max / 65536) else {
            return .failure(MetaFlaw("gives last page \(meta.lastPage)"))
        }
        return .success(meta)
    }
}

/// Why a meta page is unusable.
struct MetaFlaw: Error {
    var what: String
    init(_ what: String) { self.what = what }
}

/// A set of page numbers `0…last`.
struct PageSet {
    private var words: [UInt64]
    init(last: Int) { words = [UInt64](repeating: 0, count: last / 64 + 1) }
    func contains(_ page: Int) -> Bool { words[page >> 6] & (1 << UInt64(page & 63)) != 0 }
    /// Inserts `page`; returns false when it was already there.
    mutating func insert(_ page: Int) -> Bool {
        let bit: UInt64 = 1 << UInt64(page & 63)
        if words[page >> 6] & bit != 0 { return false }
        words[page >> 6] |= bit
        return true
    }
}

extension UnsafeRawBufferPointer {
    func u16(_ at: Int) -> UInt16 { UInt16(littleEndian: loadUnaligned(fromByteOffset: at, as: UInt16.self)) }
    func u32(_ at: Int) -> UInt32 { UInt32(littleEndian: loadUnaligned(fromByteOffset: at, as: UInt32.self)) }
    func u64(_ at: Int) -> UInt64 { UInt64(littleEndian: loadUnaligned(fromByteOffset: at, as: UInt64.self)) }
}
