import LMDB

extension EventLog {
    /// The named databases of a log (schema 1):
    ///
    /// - `meta`: the counters ``MetaKey`` names (`schema`, `retain`, `seq`, `streams`,
    ///   `gc`, `garbage`; see ``AppendBatch``) and projection checkpoints.
    /// - `names`: agent, 0x00, cli → stream id (``Keys/name(_:)``).
    /// - `streams`: stream id → its summary and ring (``RingRecord``).
    /// - `events`: `seq` → stream id and event record (``StoredEvent``): the timeline,
    ///   in commit order.
    /// - `open`: invocation → `seq` of its mark, for marks with no measure yet.
    struct Databases: Sendable {
        var meta, names, streams, events, open: Database

        /// The database names, as `mdb_dbi_open` knows them.
        static let metaName = "meta", namesName = "names", streamsName = "streams", eventsName = "events", openName = "open"

        static func open(_ txn: Transaction, create: Bool) throws(LMDBError) -> Databases {
            let flags: Transaction.DatabaseFlags = create ? .create : []
            let integers = flags.union(.integerKey)
            return Databases(
                meta: try txn.openDatabase(metaName, flags: flags), names: try txn.openDatabase(namesName, flags: flags),
                streams: try txn.openDatabase(streamsName, flags: integers), events: try txn.openDatabase(eventsName, flags: integers),
                open: try txn.openDatabase(openName, flags: integers))
        }

        /// The `meta` database alone, when it exists: what probing a log reads first.
        static func openMeta(_ txn: Transaction) -> Database? {
            try? txn.openDatabase(metaName)
        }
    }
}
