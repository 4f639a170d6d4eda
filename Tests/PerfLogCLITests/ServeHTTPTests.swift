import Foundation
import PerfLogTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `perflog serve --http`: its routes, and who may use them.
@Suite("perflog serve: the HTTP routes", .timeLimit(.minutes(2)))
struct ServeHTTPTests {
    @Test("HTTP: POST /events 200/422/413, GET /streams, /metrics for Prometheus, /healthz, 404 and 405")
    func httpRoutes() throws {
        let dir = try scratch()
        let log = dir.file("log"), socket = dir.file("s.sock")
        let token = try writeToken(dir.file("token"))
        let service = try Service(log: log, socket: socket, options: ["--http", "127.0.0.1:0", "--max-request-bytes", "1024",
                                                                      "--http-token-file", dir.file("token")])
        let port = try #require(service.httpPort, "no http address in \(service.startup)")

        let health = try http(port: port, "GET", "/healthz")
        #expect(health.status == 200, "\(health)")
        #expect(decodeObject(health.body)["status"] as? String == "ok", "\(health)")

        let good = try http(port: port, "POST", "/events", body: measure("web", "curl", invocation: 0x701) + measure("web", "curl", invocation: 0x702, ms: 9),
                            token: token)
        #expect(good.status == 200, "\(good)")
        let goodAnswer = decodeObject(good.body)
        #expect(goodAnswer["received"] as? Int == 2 && goodAnswer["committed"] as? Int == 2 && goodAnswer["rejected"] as? Int == 0, "\(good)")

        let mixed = try http(port: port, "POST", "/events", body: measure("web", "curl", invocation: 0x703)
            + "{\"kind\":\"measure\",\"agent\":\"web\",\"cli\":\"curl\",\"durationMs\":-1,\"outcome\":\"ok\"}\n"
            + measure("web", "curl", invocation: 0x705, outcome: "failed"), token: token)
        #expect(mixed.status == 422, "\(mixed)")
        let mixedAnswer = decodeObject(mixed.body)
        #expect(mixedAnswer["received"] as? Int == 3 && mixedAnswer["committed"] as? Int == 2 && mixedAnswer["rejected"] as? Int == 1, "\(mixed)")
        let errors = mixedAnswer["errors"] as? [[String: Any]] ?? []
        #expect(errors.count == 1 && errors.first?["line"] as? Int == 2 && errors.first?["field"] as? String == "durationMs", "\(mixed)")
        #expect(try loggedInvocations(log) == [0x701, 0x702, 0x703, 0x705])

        // Too large: declared up front, and sent in chunks without a length.
        let big = String(repeating: "x", count: 1500)
        let tooLarge = try http(port: port, "POST", "/events", body: big, token: token)
        #expect(tooLarge.status == 413, "\(tooLarge)")
        let chunked = try rawHTTP(port: port, "POST /events HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer \(token)\r\nTransfer-Encoding: chunked\r\n\r\n"
                                  + "5dc\r\n\(big)\r\n0\r\n\r\n")
        #expect(chunked.status == 413, "\(chunked)")
        #expect(try loggedInvocations(log).count == 4, "a refused body was recorded")

        let streams = try http(port: port, "GET", "/streams")
        #expect(streams.status == 200 && streams.headers["content-type"] == "application/json", "\(streams)")
        let stats = try CLI.run(["stats", "--json", "--log", log])
        #expect(stats.status == 0, "\(stats)")
        let served = try JSONSerialization.jsonObject(with: Data(streams.body.utf8))
        let printed = try JSONSerialization.jsonObject(with: Data(stats.stdout.utf8))
        #expect(try JSONSerialization.data(withJSONObject: served, options: .sortedKeys)
                    == JSONSerialization.data(withJSONObject: printed, options: .sortedKeys),
                "GET /streams: \(streams.body)\nperflog stats --json: \(stats.stdout)")
        let rows = served as? [[String: Any]] ?? []
        #expect(rows.count == 1 && rows.first?["count"] as? Int == 4 && rows.first?["failures"] as? Int == 1, "\(streams.body)")
        let filtered = try http(port: port, "GET", "/streams?agent=nobody")
        #expect(filtered.status == 200 && (try? JSONSerialization.jsonObject(with: Data(filtered.body.utf8)) as? [Any])?.isEmpty == true, "\(filtered)")

        // A socket client too, so that every service counter has something to count.
        let client = try Client.unix(socket)
        try client.write(measure("sock", "c", invocation: 0x710) + "{}\n")
        #expect(client.replies(untilAck: 2).lastAck == 2)

        let metrics = try http(port: port, "GET", "/metrics")
        #expect(metrics.status == 200, "\(metrics)")
        #expect(metrics.headers["content-type"]?.hasPrefix("application/openmetrics-text") == true, "\(metrics.headers)")
        #expect(metrics.body.hasSuffix("# EOF\n"), "\(metrics.body)")
        // Both prometheus_client parsers must accept it; a missing module fails the
        // test (tools/setup installs it).
        let parse = """
            import sys
            from prometheus_client.openmetrics.parser import text_string_to_metric_families as om
            from prometheus_client.parser import text_string_to_metric_families as text
            body = sys.stdin.read()
            for f in om(body):
                for s in f.samples:
                    print("om", f.type, s.name, repr(sorted(s.labels.items())), float(s.value))
            for f in text(body):
                for s in f.samples:
                    print("text", s.name, repr(sorted(s.labels.items())), float(s.value))
            """
        let (parsed, output) = try runProgram("/usr/bin/env", ["python3", "-c", parse], input: metrics.body)
        #expect(parsed == 0, "\(output)\n\(metrics.body)")
        let samples = Set(output.split(separator: "\n").map(String.init))
        for expected in [
            "om counter perflog_serve_events_committed_total [] 5.0",
            "om counter perflog_serve_lines_total [] 7.0",
            "om counter perflog_serve_lines_rejected_total [] 2.0",
            "om counter perflog_serve_connections_total [] 1.0",
            "om gauge perflog_serve_open_connections [] 1.0",
            "om gauge perflog_window_measures [('agent', 'web'), ('cli', 'curl')] 4.0",
            "om gauge perflog_window_failures [('agent', 'web'), ('cli', 'curl')] 1.0",
            "text perflog_serve_events_committed_total [] 5.0",
            "text perflog_window_measures [('agent', 'sock'), ('cli', 'c')] 1.0",
        ] {
            #expect(samples.contains(expected), "no \(expected) in\n\(output)")
        }
        #expect(samples.contains { $0.hasPrefix("om counter perflog_serve_http_requests_total [] ") }, "\(output)")

        // A scraper that asks for the classic text format gets it, with counters typed.
        let classic = try rawHTTP(port: port, "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: text/plain;version=0.0.4\r\nConnection: close\r\n\r\n")
        #expect(classic.headers["content-type"]?.hasPrefix("text/plain; version=0.0.4") == true, "\(classic.headers)")
        #expect(!classic.body.contains("# EOF") && !classic.body.contains("# UNIT"), "\(classic.body)")
        let classicParse = """
            import sys
            from prometheus_client.parser import text_string_to_metric_families as text
            for f in text(sys.stdin.read()):
                for s in f.samples:
                    print(f.type, s.name, float(s.value))
            """
        let (classicParsed, classicOutput) = try runProgram("/usr/bin/env", ["python3", "-c", classicParse], input: classic.body)
        #expect(classicParsed == 0, "\(classicOutput)\n\(classic.body)")
        #expect(classicOutput.contains("counter perflog_serve_events_committed_total 5.0"), "\(classicOutput)")
        #expect(classicOutput.contains("histogram perflog_invocation_duration_seconds_count"), "\(classicOutput)")
        #expect(!classicOutput.contains("_created"), "\(classicOutput)")

        let missing = try http(port: port, "GET", "/nothing-here")
        #expect(missing.status == 404, "\(missing)")
        #expect(decodeObject(missing.body)["error"] is String, "\(missing)")
        let wrongMethod = try http(port: port, "GET", "/events")
        #expect(wrongMethod.status == 405 && wrongMethod.headers["allow"] == "POST", "\(wrongMethod)")
        let deleteMetrics = try http(port: port, "DELETE", "/metrics")
        #expect(deleteMetrics.status == 405 && deleteMetrics.headers["allow"] == "GET, HEAD", "\(deleteMetrics)")

        // Still healthy after all the refusals.
        let after = try http(port: port, "GET", "/healthz")
        #expect(after.status == 200 && decodeObject(after.body)["committed"] as? Int == 5, "\(after)")
        let (status, stderr, stopped) = service.stop()
        #expect(status == 0, "\(stderr)")
        #expect((stopped?["httpRequests"] as? Int ?? 0) >= 10, "\(String(describing: stopped))")
    }
}

// MARK: - Who gets in over HTTP

/// A Python child that drops its privileges to `nobody`, then does what its script says;
/// its standard output is read line by line, its standard input closed to end it.
private final class NobodyClient {
    let process = Process()
    let output: LineReader
    private let input = Pipe()

    init(script: String, arguments: [String]) throws {
        let pipe = Pipe()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        let prologue = """
            import encodings.idna, os, pwd, resource, select, socket, sys, time
            # Everything is imported before the privileges go: nobody may not read the
            # interpreter's library.
            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            nobody = pwd.getpwnam("nobody")
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            print("uid", os.getuid(), flush=True)
            def request(port, raw):
                s = socket.create_connection(("127.0.0.1", port))
                s.sendall(raw)
                data = b""
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                s.close()
                return data.split(b"\\r\\n", 1)[0].decode()

            """
        process.arguments = ["python3", "-c", prologue + script] + arguments
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = input
        output = LineReader(pipe.fileHandleForReading)
        try process.run()
        try? pipe.fileHandleForWriting.close()
    }

    /// Closes the child's standard input (its cue to end) and waits for it.
    func finish() -> Int32 {
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
        return process.terminationStatus
    }

    deinit {
        if process.isRunning { process.terminate() }
    }
}

@Suite("perflog serve: who gets in over HTTP", .timeLimit(.minutes(3)))
struct ServeAccessTests {
    @Test("as nobody: POST /events refused without the token (401) and with a wrong one; the owner's token is taken",
          .enabled(if: geteuid() == 0, "dropping privileges to nobody needs root"))
    func anotherUserCannotPost() throws {
        let dir = try scratch()
        let log = dir.file("log")
        let token = try writeToken(dir.file("token"))
        let service = try Service(log: log, socket: dir.file("s.sock"),
                                  options: ["--http", "127.0.0.1:0", "--http-token-file", dir.file("token")])
        let port = try #require(service.httpPort)
        let body = measure("intruder", "curl", invocation: 0x9001)
        let post = { (authorization: String) in
            "POST /events HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\(authorization)Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
        }
        let script = """
            port = int(sys.argv[1])
            print("none", request(port, sys.argv[2].encode()), flush=True)
            print("wrong", request(port, sys.argv[3].encode()), flush=True)
            print("read", request(port, b"GET /healthz HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n"), flush=True)
            """
        let nobody = try NobodyClient(script: script, arguments: [String(port), post(""), post("Authorization: Bearer not-the-token-at-all\r\n")])
        #expect(nobody.finish() == 0, "\(nobody.output.allLines)")
        let lines = nobody.output.allLines
        #expect(lines.first == "uid 65534", "\(lines)")
        #expect(lines.contains("none HTTP/1.1 401 Unauthorized"), "\(lines)")
        #expect(lines.contains("wrong HTTP/1.1 401 Unauthorized"), "\(lines)")
        #expect(lines.contains("read HTTP/1.1 200 OK"), "\(lines)")
        #expect(try loggedInvocations(log).isEmpty, "a refused POST was recorded")

        let refused = try http(port: port, "POST", "/events", body: body)
        #expect(refused.status == 401 && refused.headers["www-authenticate"]?.hasPrefix("Bearer") == true, "\(refused)")
        let owner = try http(port: port, "POST", "/events", body: body, token: token)
        #expect(owner.status == 200, "\(owner)")
        #expect(try loggedInvocations(log) == [0x9001])
        #expect(service.stop().status == 0)
    }

    @Test("as nobody: 2,000 idle connections; the owner's GET /metrics keeps answering 200, nobody's extra connections are refused",
          .enabled(if: geteuid() == 0, "dropping privileges to nobody needs root"))
    func idleConnectionsOfAnotherUserDoNotStarveTheOwner() throws {
        let dir = try scratch()
        // Fewer connections in all than nobody opens: only a per-user limit keeps the
        // owner's scrapes in.
        let service = try Service(log: dir.file("log"), socket: dir.file("s.sock"),
                                  options: ["--http", "127.0.0.1:0", "--max-connections", "200", "--max-connections-per-user", "64"])
        let port = try #require(service.httpPort)
        let script = """
            port, n = int(sys.argv[1]), int(sys.argv[2])
            held = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
            print("held", len(held), flush=True)
            sys.stdin.read()
            # Which connections the service closed (answered 503 and closed).
            closed, refused = 0, 0
            for s in held:
                s.setblocking(False)
                try:
                    data = s.recv(4096)
                    closed += 1
                    refused += data.startswith(b"HTTP/1.1 503")
                except BlockingIOError:
                    pass
            print("closed", closed, "refused", refused, flush=True)
            """
        let nobody = try NobodyClient(script: script, arguments: [String(port), "2000"])
        let held = nobody.output.waitForLine(timeout: 60) { $0.hasPrefix("held ") || $0.contains("Error") }
        #expect(held == "held 2000", "\(nobody.output.allLines)")
        // The service has admitted nobody's first 64 and refused the others once the
        // owner's scrape (accepted after them) is answered.
        for _ in 0..<20 {
            let scrape = try http(port: port, "GET", "/metrics")
            #expect(scrape.status == 200, "\(scrape)")
        }
        let health = try http(port: port, "GET", "/healthz")
        #expect(health.status == 200, "\(health)")
        #expect(nobody.finish() == 0, "\(nobody.output.allLines)")
        let summary = nobody.output.allLines.last ?? ""
        let numbers = summary.split(separator: " ").compactMap { Int($0) }
        // Every connection past nobody's 64 was closed (most after reading the 503; a
        // close racing the answer's delivery can drop it).
        #expect(numbers.count == 2 && numbers[0] >= 2000 - 64 && numbers[1] > 0, "\(summary)")
        #expect(service.stop().status == 0)
    }

    @Test("POST /events without --http-token-file: 403 saying how to enable it; the reading routes answer")
    func withoutATokenHTTPIsReadOnly() throws {
        let dir = try scratch()
        let service = try Service(log: dir.file("log"), socket: dir.file("s.sock"), options: ["--http", "127.0.0.1:0"])
        let port = try #require(service.httpPort)
        let post = try http(port: port, "POST", "/events", body: measure("a", "c", invocation: 1), token: "anything-at-all-here")
        #expect(post.status == 403, "\(post)")
        #expect((decodeObject(post.body)["error"] as? String)?.contains("--http-token-file") == true, "\(post)")
        for route in ["/", "/healthz", "/metrics", "/streams"] {
            let r = try http(port: port, "GET", route)
            #expect(r.status == 200, "\(route): \(r)")
        }
        #expect(service.stop().status == 0)
    }

    enum BadToken: String, CaseIterable, Sendable {
        case groupReadable, notRegular, tooShort, missing
    }

    @Test("a token file that others can read, that is not a file, is too short or is missing: serve refuses to start",
          arguments: BadToken.allCases)
    func unsafeTokenFilesAreRefused(_ bad: BadToken) throws {
        let dir = try scratch()
        let path = dir.file("token")
        var expected: Int32 = 65
        switch bad {
        case .groupReadable:
            _ = try writeToken(path)
            chmod(path, 0o640)
        case .notRegular: mkdir(path, 0o700)
        case .tooShort:
            let fd = open(path, O_WRONLY | O_CREAT, 0o600)
            _ = write(fd, "short\n", 6)
            close(fd)
        case .missing: expected = 66
        }
        let r = try CLI.run(["serve", "--log", dir.file("log"), "--socket", dir.file("s.sock"), "--http", "127.0.0.1:0",
                             "--http-token-file", path])
        #expect(r.status == expected, "\(r)")
        #expect(r.stderr.hasPrefix("perflog: --http-token-file: token file \(path)") && r.stderr.split(separator: "\n").count == 1, "\(r)")
        if bad != .missing { #expect(r.stderr.contains("umask 077"), "\(r)") }
        #expect(!FileManager.default.fileExists(atPath: dir.file("s.sock")))
    }

    @Test("a client that sends no complete request head within --header-timeout, or nothing after an answer within --idle-timeout, is closed")
    func headerAndIdleTimeouts() throws {
        let dir = try scratch()
        let service = try Service(log: dir.file("log"), socket: dir.file("s.sock"),
                                  options: ["--http", "127.0.0.1:0", "--header-timeout", "1", "--idle-timeout", "2"])
        let port = try #require(service.httpPort)
        let slow = try Client.tcp(port: port)
        try slow.write("GET /healthz HTTP/1.1\r\nHost: x\r\n")  // never finished
        let idle = try Client.tcp(port: port)
        try idle.write("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")  // kept alive
        let silent = try Client.tcp(port: port)

        #expect(slow.readToEnd(timeout: 30) == [], "a half-sent head was answered or kept")
        #expect(silent.readToEnd(timeout: 30) == [], "a connection that sent nothing was kept")
        let answered = idle.readToEnd(timeout: 30).map { String(decoding: $0, as: UTF8.self) }
        #expect(answered?.hasPrefix("HTTP/1.1 200 OK") == true && answered?.contains("connection: close") == false,
                "\(String(describing: answered))")
        #expect(try http(port: port, "GET", "/healthz").status == 200)
        #expect(service.stop().status == 0)
    }
}
