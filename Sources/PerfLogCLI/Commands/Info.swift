import ArgumentParser
import PerfLog

extension Perflog {
    /// `perflog info`: facts about the log.
    struct Info: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show facts about the log: streams, events, sizes.",
            discussion: """
                events counts the measures the rings retain; in flight counts marks whose \
                measure has not arrived (running or abandoned invocations). The log is \
                opened read-only: a missing log exits 66 and nothing is created.

                --json prints one object with the keys path, schemaVersion, retain, \
                streams, events, inFlight, fileBytes, mapBytes (bytes), lmdbVersion, abandoned, \
                total and totalFailures (measures since the lifetime counters started, \
                not only the retained ones), and foundFrom: how the log was found, one of \
                "--log", "PERFLOG_LOG", "current directory" or "parent directory" (the \
                nearest parent with .planning/, as git finds .git).
                """)

        @Flag(help: "Print one JSON object instead of aligned lines.")
        var json = false

        @OptionGroup var log: LogOptions

        func run() throws {
            let source = try log.location.resolved().source
            let eventLog = try log.openForReading()
            let info: LogInfo
            do {
                info = try eventLog.read { r in try r.info() }
            } catch {
                throw CLIFailure.from(error)
            }
            let foundFrom: String, found: String
            switch source {
            case .flag: (foundFrom, found) = ("--log", "")
            case .environment: (foundFrom, found) = ("PERFLOG_LOG", " (from PERFLOG_LOG)")
            case .currentDirectory: (foundFrom, found) = ("current directory", "")
            case .parentDirectory(let dir): (foundFrom, found) = ("parent directory", " (found from the parent directory \(dir))")
            }
            if json {
                Terminal.out(String(info.json.dropLast()) + ",\"foundFrom\":\(JSONBuffer.quoted(foundFrom))}\n")
                return
            }
            let rows: [(String, String)] = [
                ("path", info.path + found),
                ("schema version", "\(info.schemaVersion)"),
                ("retain", "\(info.retain) measures per stream"),
                ("streams", "\(info.streams)"),
                ("events", "\(info.events) retained; \(info.total) since the counters started, \(info.totalFailures) failed"),
                ("in flight", "\(info.inFlight)"),
                ("abandoned", "\(info.abandoned) (in flight for over an hour)"),
                ("last seq", "\(info.lastSeq)"),
                ("file size", "\(HumanFormat.bytes(info.fileBytes)) (\(info.fileBytes) bytes)"),
                ("map size", "\(HumanFormat.bytes(info.mapBytes)) (\(info.mapBytes) bytes)"),
                ("LMDB version", info.lmdbVersion),
            ]
            let width = rows.map { $0.0.count }.max() ?? 0
            var out = ""
            for (key, value) in rows {
                out += HumanFormat.pad(key + ":", width + 1) + "  " + value + "\n"
            }
            Terminal.out(out)
        }
    }
}
