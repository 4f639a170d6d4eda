import ArgumentParser
import PerfLog
import PerfLogService
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension Perflog {
    /// `perflog serve`: the ingest service for programs in any language.
    struct Serve: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Take events over a Unix socket (and HTTP) and commit them in groups.",
            discussion: """
                A long-running service for programs that record many events: instead of \
                starting perflog for each one, they write NDJSON lines to a socket and \
                the service commits them to the log with group commit.

                The socket is PATH.sock beside the log (.planning/metrics/perflog.sock \
                by default) unless --socket names another; it is created mode 0600, so \
                only this user can connect. A stale socket left by a killed service is \
                replaced; a live one is not (exit 75).

                Lines (one JSON object each, ending in a line feed):
                  {"kind":"measure","agent":"a","cli":"c","durationMs":812.4,"outcome":"ok"}
                  {"kind":"mark","agent":"a","cli":"c","invocation":"6f1c2a9e"}
                  {"kind":"measure","invocation":"6f1c2a9e","outcome":"failed"}
                The fields are those of perflog's NDJSON (perflog tail --json), with \
                time (default: when the line arrived), pid (default 0) and seq \
                optional. A measure without durationMs ends the mark with its \
                invocation: the service times it from the mark.

                Replies (one JSON object a line, in line order):
                  {"line":7,"field":"durationMs","error":"must not be negative"}
                  {"ack":12}
                ack N means every line up to N is handled: each one without an error \
                reply is committed to the log. A bad line never closes the connection \
                or costs the lines beside it. Lines longer than --max-line-bytes are \
                refused and skipped; an unterminated last line (a client that died \
                mid-line) is refused, never half recorded. When a commit fails (the disk \
                is full, or another process held the log for longer than --wait), each of \
                its lines is answered {"line":N,"error":"not stored: …"} and GET /healthz \
                says degraded (503) until a commit succeeds again; lines the log was held \
                for say "resend".

                --http ADDRESS also serves HTTP: POST /events (an NDJSON body; 200 when \
                every line was committed, 422 when some broke a rule, with the others \
                committed; the JSON answer lists them), GET /streams (as perflog stats \
                --json; ?agent= and ?cli= filter), GET /metrics (OpenMetrics text for \
                Prometheus: the log's statistics and the service's counters) and GET \
                /healthz. ADDRESS is PORT (on 127.0.0.1), 127.0.0.1:PORT or [::1]:PORT; \
                PORT 0 takes a free port. Any other address must be written out and is \
                reachable from other machines: there is no authentication.

                SIGINT or SIGTERM stops the service gracefully: it stops accepting and \
                reading, commits and answers every line it has read (lines it had not \
                read yet get no ack, so a client knows to send them again), removes the \
                socket and exits 0. A second signal ends it at once. A restart carries on with \
                the same log; every acknowledged event is in it, even after kill -9.

                Examples:
                  perflog serve &
                  perflog serve --http 9464
                  perflog serve --project      # also keeps agent-performance.json current
                  ev='{"kind":"measure","agent":"a","cli":"c","durationMs":5,"outcome":"ok"}'
                  echo "$ev" | socat - UNIX-CONNECT:.planning/metrics/perflog.sock
                  curl --data-binary @events.ndjson http://127.0.0.1:9464/events
                """)

        @Option(help: ArgumentHelp("The Unix socket to listen on.", discussion: "Default: the log's path with .sock appended.", valueName: "path"),
                completion: .file())
        var socket: String?

        @Option(help: ArgumentHelp("Also serve HTTP here: PORT, 127.0.0.1:PORT or [::1]:PORT.", valueName: "address"))
        var http: String?

        @Option(help: ArgumentHelp("What a commit promises: durable (on disk when acknowledged), default (data flushed, LMDB's meta page not) or fast (flushed every second; a process crash still loses nothing acknowledged).", valueName: "mode"))
        var durability: String = "default"

        @Option(help: ArgumentHelp("The longest line accepted, in bytes.", valueName: "bytes"))
        var maxLineBytes: Int = ServiceLimits().maxLineBytes

        @Option(help: ArgumentHelp("The largest HTTP request body accepted, in bytes.", valueName: "bytes"))
        var maxRequestBytes: Int = ServiceLimits().maxRequestBytes

        @Option(help: ArgumentHelp("Seconds a line may stay without its line feed before it is refused and its connection closed (0: no limit).", valueName: "seconds"))
        var lineTimeout: Int = 300

        @Option(help: ArgumentHelp("Connections open at once, on the socket and on HTTP each; one more is refused.", valueName: "n"))
        var maxConnections: Int = ServiceLimits().maxConnections

        @Flag(help: ArgumentHelp(
            "Keep agent-performance.json up to date, as perflog project --watch does.",
            discussion: "Written after commits (within about a second while events keep coming) to --out."))
        var project = false

        @Option(help: ArgumentHelp("With --project, the file to write.", valueName: "path"), completion: .file())
        var out: String = Project.defaultPath

        @Flag(help: "Print where the service listens as one JSON object on standard output, and its totals as another when it stops.")
        var json = false

        @OptionGroup var log: LogOptions

        func validate() throws {
            if let socket, socket.isEmpty { throw ValidationError("--socket must not be empty") }
            if EventLog.Durability(rawValue: durability) == nil {
                throw ValidationError("--durability must be durable, default or fast")
            }
            if maxLineBytes < 1024 || maxLineBytes > 16 << 20 { throw ValidationError("--max-line-bytes must be from 1024 to 16777216") }
            if maxRequestBytes < 1024 { throw ValidationError("--max-request-bytes must be at least 1024") }
            if maxConnections < 1 { throw ValidationError("--max-connections must be at least 1") }
            if lineTimeout < 0 { throw ValidationError("--line-timeout must not be negative") }
            if out.isEmpty { throw ValidationError("--out must not be empty") }
        }

        func run() throws {
            // Before any thread starts, so that the signals wait for the watcher.
            StopSignals.block()
            let path = try log.path()
            var httpAddress: HTTPAddress?
            if let http {
                do { httpAddress = try HTTPAddress(parsing: http) } catch { throw CLIFailure(.usage, "--http: \(error)") }
            }
            var logOptions = EventLog.Options()
            logOptions.durability = EventLog.Durability(rawValue: durability) ?? .default
            logOptions.waitLimit = log.location.waitLimit
            let eventLog: EventLog
            do { eventLog = try EventLog(path: path, options: logOptions) } catch { throw CLIFailure(error) }

            var configuration = IngestService.Configuration(socketPath: socket ?? path + ".sock", http: httpAddress)
            configuration.limits.maxLineBytes = maxLineBytes
            configuration.limits.maxRequestBytes = maxRequestBytes
            configuration.limits.maxConnections = maxConnections
            configuration.limits.lineTimeout = lineTimeout == 0 ? nil : .seconds(lineTimeout)
            if project { configuration.recorder.projectionPath = out }
            let service: IngestService
            do {
                service = try IngestService(log: eventLog, configuration: configuration)
            } catch {
                switch error {
                case .socketInUse: throw CLIFailure(.temporary, "\(error)")
                case .log(let e): throw CLIFailure(e)
                case .socket, .http: throw CLIFailure(.cannotCreate, "\(error)")
                }
            }
            StopSignals.watch { _ in service.shutdown() }

            if let address = service.httpAddress, !address.isLoopback {
                Terminal.warning("HTTP listens on \(address), reachable from other machines, without authentication")
            }
            if json {
                var line = "{\"socket\":\(JSONText.quoted(service.socketPath)),\"log\":\(JSONText.quoted(path))"
                if let address = service.httpAddress { line += ",\"http\":\(JSONText.quoted(address.description))" }
                line += ",\"pid\":\(getpid())}"
                Terminal.out(line + "\n")
            } else {
                var where_ = service.socketPath
                if let address = service.httpAddress { where_ += " and http://\(address)" }
                Terminal.status("perflog serve: listening on \(where_) (log \(path)); stop with Ctrl-C or SIGTERM")
            }

            let totals = service.waitUntilStopped()
            if totals.lost > 0 {
                let what = totals.lost == 1 ? "1 event was" : "\(totals.lost) events were"
                Terminal.warning("\(what) not stored because a commit failed; the clients were told which")
            }
            if json {
                Terminal.out("{\"stopped\":true,\"lines\":\(totals.lines),\"committed\":\(totals.committed),\"rejected\":\(totals.rejected),\"lost\":\(totals.lost),\"connections\":\(totals.connections),\"httpRequests\":\(totals.httpRequests)}\n")
            } else {
                Terminal.status("perflog serve: stopped: \(totals.committed) events committed, \(totals.rejected) lines refused, \(totals.connections) connections")
            }
        }
    }
}
