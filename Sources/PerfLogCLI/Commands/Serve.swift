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

                The socket is --socket, else $PERFLOG_SOCKET, else PATH.sock beside the \
                log (.planning/metrics/perflog.sock by default), where perflog's Node.js \
                and Python clients look for it too; it is created mode 0600, so only \
                this user can connect. A stale socket left by a killed service is \
                replaced; a live one is not (exit 75), and of two services started on \
                one socket at once, one serves and the other exits 75 (each holds the \
                lock of SOCKET.lock, a file that stays).

                --idle-exit 60s makes the service stop by itself, exit 0, once no \
                client has been connected for that long: the clients start it that way \
                when they find no service, and start it again when they need it.

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

                --http ADDRESS also serves HTTP: GET /streams (as perflog stats --json; \
                ?agent= and ?cli= filter), GET /metrics (for Prometheus, as perflog \
                export --format openmetrics writes it, plus the service's counters \
                perflog_serve_*_total; the classic text format to a scraper that asks \
                for text/plain; --label NAME=VALUE adds constant labels), GET \
                /healthz and GET / (to a browser, the live HTML report of perflog \
                report, refreshing its figures every 3 s; to curl, the routes). These \
                read routes are open to whoever can connect \
                (every local user, on loopback). ADDRESS is PORT (on 127.0.0.1), \
                127.0.0.1:PORT or [::1]:PORT; PORT 0 takes a free port. Any other \
                address must be written out and is reachable from other machines.

                POST /events (an NDJSON body; 200 when every line was committed, 422 \
                when some broke a rule, with the others committed; the JSON answer \
                lists them) is taken only with --http-token-file FILE, and then only \
                with the header Authorization: Bearer <token> (401 without it, 403 \
                without a token file). FILE must be a regular file of this user that \
                its group and others cannot read (else serve exits 65):
                  (umask 077; head -c 32 /dev/urandom | base64 > ~/.perflog-token)
                  curl -H "Authorization: Bearer $(cat ~/.perflog-token)" \\
                       --data-binary @events.ndjson http://127.0.0.1:9464/events

                An HTTP connection must send its request head within --header-timeout \
                seconds (10) and its next request within --idle-timeout seconds (60); \
                each local user (on Linux, told apart by the kernel's socket table; \
                elsewhere each address) may hold --max-connections-per-user (64) HTTP \
                connections: one more is answered 503 and closed, so no user can take \
                the service's connections from the others.

                SIGINT or SIGTERM stops the service gracefully: it stops accepting and \
                reading, commits and answers every line it has read (lines it had not \
                read yet get no ack, so a client knows to send them again), removes the \
                socket and exits 0. A second signal ends it at once. A restart carries on with \
                the same log; every acknowledged event is in it, even after kill -9.

                Examples:
                  perflog serve &
                  perflog serve --http 9464
                  perflog serve --http 9464 --label host=$(hostname)
                  perflog serve --project      # also keeps agent-performance.json current
                  perflog serve --idle-exit 5m # stops after five minutes without clients
                  ev='{"kind":"measure","agent":"a","cli":"c","durationMs":5,"outcome":"ok"}'
                  echo "$ev" | socat - UNIX-CONNECT:.planning/metrics/perflog.sock
                  curl http://127.0.0.1:9464/metrics
                """)

        @Option(help: ArgumentHelp("The Unix socket to listen on.", discussion: "Default: $PERFLOG_SOCKET, else the log's path with .sock appended.", valueName: "path"),
                completion: .file())
        var socket: String?

        @Option(help: ArgumentHelp(
            "Stop, exit 0, once no client has been connected for this long (e.g. 60s, 5m; a bare number is seconds).",
            discussion: "For a service that clients start on demand. Default: run until stopped.", valueName: "duration"))
        var idleExit: String?

        @Option(help: ArgumentHelp("Also serve HTTP here: PORT, 127.0.0.1:PORT or [::1]:PORT.", valueName: "address"))
        var http: String?

        @Option(help: ArgumentHelp("Take POST /events over HTTP from clients that send this file's token (Authorization: Bearer <token>).",
                                   discussion: "The file must be this user's, mode 0600 or stricter.", valueName: "file"),
                completion: .file())
        var httpTokenFile: String?

        @Option(help: ArgumentHelp("Seconds an HTTP client may take to send its request head (0: no limit).", valueName: "seconds"))
        var headerTimeout: Int = 10

        @Option(help: ArgumentHelp("Seconds a kept-alive HTTP connection may wait for its next request, or a request body stall (0: no limit).", valueName: "seconds"))
        var idleTimeout: Int = 60

        @Option(help: ArgumentHelp("HTTP connections one local user (or one remote address) may hold open at once.", valueName: "n"))
        var maxConnectionsPerUser: Int = ServiceLimits().maxConnectionsPerPeer

        @Option(help: ArgumentHelp("What a commit promises: durable (on disk when acknowledged), default (data flushed, LMDB's meta page not) or fast (flushed every second; a process crash still loses nothing acknowledged).", valueName: "mode"))
        var durability: EventLog.Durability = .default

        @Option(help: ArgumentHelp("The longest line accepted, in bytes (1024 to 1048576).", valueName: "bytes"))
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

        @Option(name: .customLong("out"), help: ArgumentHelp(
            "With --project, the file to write. Default: agent-performance.json beside the log.", valueName: "path"),
            completion: .file())
        var outOption: String?

        @Option(name: .customLong("label"), help: ArgumentHelp(
            "A constant label for every series of GET /metrics, e.g. host=$(hostname) (repeatable).", valueName: "name=value"))
        var labels: [String] = []

        @Flag(help: "Print where the service listens as one JSON object on standard output, and its totals as another when it stops.")
        var json = false

        @OptionGroup var log: LogOptions

        func validate() throws {
            if let socket, socket.isEmpty { throw ValidationError("--socket must not be empty") }
            // Beyond the parser's own bound a longer setting would be a promise not kept.
            if maxLineBytes < 1024 || maxLineBytes > ServiceLimits.maxLineBytesLimit {
                throw ValidationError("--max-line-bytes must be from 1024 to \(ServiceLimits.maxLineBytesLimit) (a valid event is a few KiB)")
            }
            if maxRequestBytes < 1024 { throw ValidationError("--max-request-bytes must be at least 1024") }
            if maxConnections < 1 { throw ValidationError("--max-connections must be at least 1") }
            if lineTimeout < 0 { throw ValidationError("--line-timeout must not be negative") }
            if headerTimeout < 0 { throw ValidationError("--header-timeout must not be negative") }
            if idleTimeout < 0 { throw ValidationError("--idle-timeout must not be negative") }
            if maxConnectionsPerUser < 1 { throw ValidationError("--max-connections-per-user must be at least 1") }
            if httpTokenFile != nil && http == nil { throw ValidationError("--http-token-file needs --http") }
            if outOption?.isEmpty == true { throw ValidationError("--out must not be empty") }
            do { _ = try idleExitLimit() } catch { throw ValidationError(error.message) }
        }

        /// `--idle-exit` as a duration, `nil` when not given.
        /// - Throws: ``CLIFailure`` (a usage error, exit 64) naming the option and the rule.
        func idleExitLimit() throws(CLIFailure) -> Duration? {
            guard let idleExit else { return nil }
            let ns: UInt64
            do {
                ns = try DurationParser.nanoseconds(idleExit, field: "--idle-exit", bareUnit: "s",
                                                    limit: (ns: 366 * 86_400 * 1_000_000_000, text: "a year"))
            } catch {
                throw CLIFailure(.usage, error.message)
            }
            guard ns > 0 else { throw CLIFailure(.usage, "--idle-exit must be more than 0 (leave it out to run until stopped)") }
            return .nanoseconds(Int64(ns))
        }

        /// The socket's path: `--socket`, else `PERFLOG_SOCKET`, else the log's path with
        /// `.sock` appended.
        /// - Throws: ``CLIFailure`` (exit 65) when `PERFLOG_SOCKET` is set but empty.
        func socketPath(log path: String) throws(CLIFailure) -> String {
            if let socket { return socket }
            if let env = getenv("PERFLOG_SOCKET") {
                let value = String(cString: env)
                guard !value.isEmpty else { throw .invalid("PERFLOG_SOCKET", "must not be empty when set") }
                return value
            }
            return path + ".sock"
        }

        func run() throws {
            // Before any thread starts, so that the signals wait for the watcher.
            StopSignals.block()
            let path = try log.path()
            var httpAddress: HTTPAddress?
            if let http {
                do { httpAddress = try HTTPAddress(parsing: http) } catch { throw CLIFailure(.usage, "--http: \(error)") }
            }
            var token: HTTPToken?
            if let httpTokenFile {
                do { token = try HTTPToken(contentsOf: httpTokenFile) } catch { throw Serve.failure(error) }
            }
            let constantLabels: MetricLabels
            do { constantLabels = try MetricLabels(parsing: labels) } catch { throw CLIFailure(error) }
            var logOptions = EventLog.Options()
            logOptions.durability = durability
            logOptions.waitLimit = log.location.waitLimit
            let eventLog: EventLog
            do { eventLog = try EventLog(path: path, options: logOptions) } catch { throw CLIFailure(error) }

            var configuration = IngestService.Configuration(socketPath: try socketPath(log: path), http: httpAddress)
            configuration.idleExit = try idleExitLimit()
            configuration.limits.maxLineBytes = maxLineBytes
            configuration.limits.maxRequestBytes = maxRequestBytes
            configuration.limits.maxConnections = maxConnections
            configuration.limits.lineTimeout = lineTimeout == 0 ? nil : .seconds(lineTimeout)
            configuration.limits.headerTimeout = headerTimeout == 0 ? nil : .seconds(headerTimeout)
            configuration.limits.idleTimeout = idleTimeout == 0 ? nil : .seconds(idleTimeout)
            configuration.limits.maxConnectionsPerPeer = maxConnectionsPerUser
            configuration.httpToken = token
            configuration.labels = constantLabels
            configuration.describe = { CLIFailure.message($0) }
            Serve.raiseOpenFileLimit()
            if project { configuration.recorder.projectionPath = try Project.destination(outOption, log) }
            let service: IngestService
            do {
                service = try IngestService(log: eventLog, configuration: configuration)
            } catch {
                throw Serve.failure(error)
            }
            StopSignals.watch { _ in service.shutdown() }

            if let address = service.httpAddress, !address.isLoopback {
                Terminal.warning(token == nil
                    ? "HTTP listens on \(address), reachable from other machines: anyone there can read the log's figures"
                    : "HTTP listens on \(address), reachable from other machines: anyone there can read the log's figures, and the token travels unencrypted")
            }
            if json {
                var line = "{\"socket\":\(JSONBuffer.quoted(service.socketPath)),\"log\":\(JSONBuffer.quoted(path))"
                if let address = service.httpAddress { line += ",\"http\":\(JSONBuffer.quoted(address.description))" }
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
            if service.stoppedIdle, let limit = configuration.idleExit {
                Terminal.status("perflog serve: no client for \(HumanFormat.duration(nanoseconds: limit.clampedNanoseconds)); stopping")
            }
            if json {
                Terminal.out("{\"stopped\":true,\"idle\":\(service.stoppedIdle),\"lines\":\(totals.lines),\"committed\":\(totals.committed),\"rejected\":\(totals.rejected),\"lost\":\(totals.lost),\"connections\":\(totals.connections),\"httpRequests\":\(totals.httpRequests)}\n")
            } else {
                Terminal.status("perflog serve: stopped: \(totals.committed) events committed, \(totals.rejected) lines refused, \(totals.connections) connections")
            }
        }

        /// The exit status and line for a service that cannot start.
        static func failure(_ error: ServiceError) -> CLIFailure {
            switch error {
            case .socketInUse: return CLIFailure(.temporary, "\(error)")
            case .log(let e): return CLIFailure(e)
            case .socket, .http: return CLIFailure(.cannotCreate, "\(error)")
            case .tokenFileUnreadable: return CLIFailure(.noInput, "--http-token-file: \(error)")
            case .tokenFileUnsafe: return CLIFailure(.data, "--http-token-file: \(error)")
            }
        }

        /// Raises the soft limit of open files to the hard limit: each connection is a
        /// file descriptor, and the usual soft limit (1,024) is below what the
        /// connection limits allow.
        static func raiseOpenFileLimit() {
            var limit = rlimit()
            #if canImport(Glibc)
            let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
            #else
            let resource = RLIMIT_NOFILE
            #endif
            guard getrlimit(resource, &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
            limit.rlim_cur = limit.rlim_max
            _ = setrlimit(resource, &limit)
        }
    }
}

/// `--durability durable|default|fast`: parsed, completed and listed in `--help` by
/// ArgumentParser.
extension EventLog.Durability: ExpressibleByArgument {}
