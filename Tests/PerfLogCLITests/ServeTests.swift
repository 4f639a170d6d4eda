import Foundation
import PerfLogTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - The service as a user runs it

/// `perflog serve --json` started as a user would, ready once it printed where it listens.
private final class Service {
    let process: RunningCLI
    let log: String
    let socket: String
    /// The HTTP port, when started with `--http 127.0.0.1:0`.
    let httpPort: Int?
    /// The startup line, decoded.
    let startup: [String: Any]

    init(log: String, socket: String, options: [String] = [], sourceLocation: SourceLocation = #_sourceLocation) throws {
        self.log = log
        self.socket = socket
        process = try RunningCLI(["serve", "--log", log, "--socket", socket, "--json"] + options)
        guard let line = process.output.waitForLine(timeout: 30, where: { $0.hasPrefix("{\"socket\":") }) else {
            if process.process.isRunning { process.send(SIGKILL) }
            let (status, stderr) = process.wait()
            throw ServeTestFailure("perflog serve did not print its startup line: status \(status), stdout \(process.output.allLines), stderr \(stderr)")
        }
        startup = decodeObject(line, sourceLocation: sourceLocation)
        if let http = startup["http"] as? String, let colon = http.lastIndex(of: ":") {
            httpPort = Int(http[http.index(after: colon)...])
        } else {
            httpPort = nil
        }
    }

    /// Sends `signal`, waits for the exit, and returns the status, standard error and
    /// (after a graceful stop) the decoded `{"stopped":true,…}` line.
    func stop(_ signal: Int32 = SIGTERM) -> (status: Int32, stderr: String, stopped: [String: Any]?) {
        process.send(signal)
        let (status, stderr) = process.wait()
        let line = process.output.waitForLine(timeout: 5) { $0.hasPrefix("{\"stopped\":") }
        return (status, stderr, line.map { decodeObject($0) })
    }
}

private struct ServeTestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

// MARK: - Socket clients

/// One reply line from the service: `{"ack":N}` or `{"line":N,"field":…,"error":…}`.
private struct Reply: Sendable, CustomStringConvertible {
    var raw: String
    var ack: Int?

    init(_ raw: String) {
        self.raw = raw
        if raw.hasPrefix("{\"ack\":"), raw.hasSuffix("}") { ack = Int(raw.dropFirst(7).dropLast()) }
    }

    /// The reply decoded (only on demand: a slow client's hundred thousand replies are
    /// counted, not decoded).
    private var object: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(raw.utf8))) as? [String: Any] ?? [:]
    }
    var line: Int? { object["line"] as? Int }
    var field: String? { object["field"] as? String }
    var error: String? { object["error"] as? String }

    var description: String { raw }
}

/// What a client read: every reply line, and how the reading ended.
private struct Replies: Sendable, CustomStringConvertible {
    var replies: [Reply] = []
    /// The service closed the connection (EOF or reset).
    var closed = false
    var timedOut = false

    var lastAck: Int? { replies.last(where: { $0.ack != nil })?.ack }
    /// Whether the replies come in line order: acks never go back, and each error comes
    /// after the acks of the lines before it and before the ack that covers it.
    var inLineOrder: Bool {
        var acked = 0, lastError = 0
        for reply in replies {
            if let ack = reply.ack {
                guard ack >= acked, ack >= lastError else { return false }
                acked = ack
            } else if let line = reply.line {
                guard line > acked, line > lastError else { return false }
                lastError = line
            }
        }
        return true
    }
    var errors: [Reply] { replies.filter { $0.ack == nil } }
    var description: String {
        let shown = replies.count > 20 ? replies.prefix(10).map(\.raw) + ["…"] + replies.suffix(10).map(\.raw) : replies.map(\.raw)
        return "\(replies.count) replies\(closed ? ", then closed" : "")\(timedOut ? ", then timed out" : ""): \(shown.joined(separator: " "))"
    }
}

/// A client socket (Unix or TCP), non-blocking underneath: every wait is a `poll` with a
/// deadline, so a service that stops answering fails the test instead of hanging it.
private final class Client: @unchecked Sendable {
    // @unchecked Sendable: each client is used by one thread at a time.
    let fd: Int32
    private var inbound: [UInt8] = []
    private var head = 0
    /// The peer closed its side or reset the connection.
    private(set) var closedByPeer = false

    private init(fd: Int32) {
        self.fd = fd
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    }

    deinit { close(fd) }

    /// Connects to the Unix socket at `path`.
    static func unix(_ path: String) throws -> Client {
        try connected(AF_UNIX, to: unixAddress(path), named: path)
    }

    /// Connects to 127.0.0.1:`port`.
    static func tcp(port: Int) throws -> Client {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port)).bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        return try connected(AF_INET, to: address, named: "127.0.0.1:\(port)")
    }

    /// A stream socket of `family` connected to `address` (a `sockaddr_un` or `sockaddr_in`).
    private static func connected<Address>(_ family: Int32, to address: Address, named name: String) throws -> Client {
        let fd = socket(family, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ServeTestFailure("socket: \(String(cString: strerror(errno)))") }
        var address = address
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<Address>.size)) }
        }
        guard rc == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw ServeTestFailure("connect \(name): \(reason)")
        }
        return Client(fd: fd)
    }

    /// Waits for `events` (at most a second, and not past the deadline); returns the
    /// events that occurred, 0 when none did.
    private func wait(_ events: Int32, until deadline: Date) -> Int32 {
        let ms = Int32(min(max(deadline.timeIntervalSinceNow * 1000, 0), 1000))
        var p = pollfd(fd: fd, events: Int16(events), revents: 0)
        let n = poll(&p, 1, ms)
        return n > 0 ? Int32(p.revents) : 0
    }

    /// Takes what can be read now into the inbound buffer.
    private func receive() {
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 {
                inbound.append(contentsOf: chunk[0..<n])
                continue
            }
            if n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) { closedByPeer = true }
            return
        }
    }

    /// Writes every byte, reading the replies meanwhile (a client that reads, so the
    /// service never has to wait for it).
    /// - Throws: when the service closes the connection or the deadline passes first.
    func write(_ bytes: [UInt8], timeout: TimeInterval = 30) throws {
        let deadline = Date(timeIntervalSinceNow: timeout)
        var sent = 0
        while sent < bytes.count {
            guard Date() < deadline else { throw ServeTestFailure("writing timed out after \(sent) of \(bytes.count) bytes") }
            let revents = wait(Int32(POLLOUT | POLLIN), until: deadline)
            if revents & Int32(POLLIN | POLLHUP | POLLERR) != 0 { receive() }
            guard revents & Int32(POLLOUT | POLLERR | POLLHUP) != 0 else { continue }
            let n = bytes.withUnsafeBytes { b in
                send(fd, b.baseAddress! + sent, min(b.count - sent, 1 << 20), Int32(MSG_NOSIGNAL))
            }
            if n > 0 {
                sent += n
            } else if errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR {
                throw ServeTestFailure("send: \(String(cString: strerror(errno))) after \(sent) of \(bytes.count) bytes")
            }
        }
    }

    func write(_ text: String, timeout: TimeInterval = 30) throws { try write(Array(text.utf8), timeout: timeout) }

    /// Writes as much of `bytes` as the socket takes without waiting; returns how much.
    func writeWithoutWaiting(_ bytes: ArraySlice<UInt8>) -> Int {
        let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        return max(n, 0)
    }

    /// Writes every byte without reading anything (a client that reads its replies late).
    func writeWithoutReading(_ bytes: [UInt8], timeout: TimeInterval = 30) throws {
        let deadline = Date(timeIntervalSinceNow: timeout)
        var sent = 0
        while sent < bytes.count {
            guard Date() < deadline else { throw ServeTestFailure("writing timed out after \(sent) of \(bytes.count) bytes") }
            guard wait(Int32(POLLOUT), until: deadline) != 0 else { continue }
            let n = writeWithoutWaiting(bytes[sent...])
            if n == 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR {
                throw ServeTestFailure("send: \(String(cString: strerror(errno))) after \(sent) of \(bytes.count) bytes")
            }
            sent += n
        }
    }

    /// The next line from the service; `nil` when it closed the connection or the
    /// deadline passed first.
    func nextLine(until deadline: Date) -> String? {
        while true {
            if let newline = inbound[head...].firstIndex(of: 0x0A) {
                let line = String(decoding: inbound[head..<newline], as: UTF8.self)
                head = newline + 1
                if head > 1 << 20 && head * 2 > inbound.count {
                    inbound.removeFirst(head)
                    head = 0
                }
                return line
            }
            if closedByPeer { return nil }
            if wait(Int32(POLLIN), until: deadline) != 0 {
                receive()
            } else if Date() >= deadline {
                return nil
            }
        }
    }

    /// Reads replies until one acknowledges line `n` (or later), the service closes the
    /// connection, or `timeout` passes.
    func replies(untilAck n: Int, timeout: TimeInterval = 30) -> Replies {
        let deadline = Date(timeIntervalSinceNow: timeout)
        var result = Replies()
        while let line = nextLine(until: deadline) {
            let reply = Reply(line)
            result.replies.append(reply)
            if let ack = reply.ack, ack >= n { return result }
        }
        result.closed = closedByPeer
        result.timedOut = !closedByPeer
        return result
    }

    /// Reads replies until the service closes the connection (or `timeout` passes).
    func repliesUntilClosed(timeout: TimeInterval = 30) -> Replies {
        let deadline = Date(timeIntervalSinceNow: timeout)
        var result = Replies()
        while let line = nextLine(until: deadline) { result.replies.append(Reply(line)) }
        result.closed = closedByPeer
        result.timedOut = !closedByPeer
        return result
    }

    /// Every byte until the peer closes (for HTTP).
    func readToEnd(timeout: TimeInterval = 30) -> [UInt8]? {
        let deadline = Date(timeIntervalSinceNow: timeout)
        while !closedByPeer {
            guard Date() < deadline else { return nil }
            if wait(Int32(POLLIN), until: deadline) != 0 { receive() }
        }
        return Array(inbound[head...])
    }

    /// Half-closes: the service sees the end of input, and may still answer.
    func shutdownWrite() { _ = shutdown(fd, Int32(SHUT_WR)) }
}

/// Binds a Unix socket at `path` and closes it without removing the file: what a killed
/// service leaves behind.
private func abandonSocket(at path: String) -> Bool {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = unixAddress(path)
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    } == 0
}

private func unixAddress(_ path: String) -> sockaddr_un {
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        let bytes = Array(path.utf8.prefix(raw.count - 1))
        raw.copyBytes(from: bytes)
        raw[bytes.count] = 0
    }
    return address
}

// MARK: - HTTP

private struct HTTPReply: CustomStringConvertible {
    var status: Int
    var headers: [String: String]
    var body: String
    var description: String { "HTTP \(status) \(headers) \(body)" }
}

/// Sends one HTTP/1.1 request (Connection: close) and reads the whole answer.
private func http(port: Int, _ method: String, _ target: String, body: String? = nil, token: String? = nil) throws -> HTTPReply {
    var request = "\(method) \(target) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
    if let token { request += "Authorization: Bearer \(token)\r\n" }
    if let body { request += "Content-Type: application/x-ndjson\r\nContent-Length: \(body.utf8.count)\r\n" }
    request += "\r\n" + (body ?? "")
    return try rawHTTP(port: port, request)
}

private func rawHTTP(port: Int, _ request: String) throws -> HTTPReply {
    let client = try Client.tcp(port: port)
    try client.write(request)
    guard let bytes = client.readToEnd() else { throw ServeTestFailure("no complete HTTP answer within the deadline") }
    let text = String(decoding: bytes, as: UTF8.self)
    guard let split = text.range(of: "\r\n\r\n") else { throw ServeTestFailure("not an HTTP answer: \(text)") }
    let headLines = text[..<split.lowerBound].components(separatedBy: "\r\n")
    let statusParts = headLines[0].split(separator: " ")
    guard statusParts.count >= 2, statusParts[0] == "HTTP/1.1", let status = Int(statusParts[1]) else {
        throw ServeTestFailure("bad status line: \(headLines[0])")
    }
    var headers: [String: String] = [:]
    for line in headLines.dropFirst() {
        guard let colon = line.firstIndex(of: ":") else { continue }
        headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
    let body = String(text[split.upperBound...])
    if let length = headers["content-length"].flatMap(Int.init) {
        #expect(body.utf8.count == length, "content-length \(length), body of \(body.utf8.count) bytes")
    }
    return HTTPReply(status: status, headers: headers, body: body)
}

// MARK: - Threads

/// A value shared between threads under a lock.
private final class Locked<Value>: @unchecked Sendable {
    private let lock = NSCondition()
    private var value: Value

    init(_ value: Value) { self.value = value }

    func withLock<R>(_ body: (inout Value) -> R) -> R {
        lock.lock()
        defer { lock.broadcast(); lock.unlock() }
        return body(&value)
    }

    /// Waits until `predicate` holds (true) or the deadline passes (false).
    func wait(timeout: TimeInterval, until predicate: (Value) -> Bool) -> Bool {
        let deadline = Date(timeIntervalSinceNow: timeout)
        lock.lock()
        defer { lock.unlock() }
        while !predicate(value) {
            if !lock.wait(until: deadline) { return predicate(value) }
        }
        return true
    }
}

/// Runs a body on a thread of its own.
private final class Background<T: Sendable>: @unchecked Sendable {
    private let result = Locked<T?>(nil)

    init(_ body: @escaping @Sendable () -> T) {
        let result = self.result
        Thread { result.withLock { $0 = body() } }.start()
    }

    /// The body's result; `nil` if it has not finished within `timeout`.
    func join(timeout: TimeInterval = 60) -> T? {
        var value: T?
        _ = result.wait(timeout: timeout) { current in
            value = current
            return current != nil
        }
        return value
    }
}

// MARK: - Lines and the log

/// An invocation id as perflog prints it: 16 hexadecimal digits.
private func hex(_ value: UInt64) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: max(0, 16 - digits.count)) + digits
}

/// One measure line (with its line feed) of a known invocation.
private func measure(_ agent: String, _ cli: String, invocation: UInt64, ms: Int = 5, outcome: String = "ok") -> String {
    "{\"kind\":\"measure\",\"agent\":\"\(agent)\",\"cli\":\"\(cli)\",\"invocation\":\"\(hex(invocation))\",\"durationMs\":\(ms),\"outcome\":\"\(outcome)\"}\n"
}

/// The invocation of every event `perflog export --format ndjson` lists (every retained
/// measure and open mark), in commit order.
private func loggedInvocations(_ log: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> [UInt64] {
    let r = try CLI.run(["export", "--format", "ndjson", "--log", log])
    #expect(r.status == 0, "\(r)", sourceLocation: sourceLocation)
    let key = "\"invocation\":\""
    return r.stdout.split(separator: "\n").compactMap { line -> UInt64? in
        guard let start = line.range(of: key)?.upperBound else {
            Issue.record("an event without an invocation: \(line)", sourceLocation: sourceLocation)
            return nil
        }
        return UInt64(line[start...].prefix(16), radix: 16)
    }
}

/// Every event `perflog tail --json` shows (the newest `count`), decoded.
private func tailEvents(_ log: String, count: Int = 1000, sourceLocation: SourceLocation = #_sourceLocation) throws -> [[String: Any]] {
    let r = try CLI.run(["tail", "--json", "-n", String(count), "--log", log])
    #expect(r.status == 0, "\(r)", sourceLocation: sourceLocation)
    return r.stdoutLines.map { decodeObject($0, sourceLocation: sourceLocation) }
}

/// Waits (with a deadline) until the service's counters on /metrics show `committed`
/// events committed and `rejected` lines refused, that is until it has answered them.
private func waitForCounters(port: Int, committed: Int, rejected: Int) throws -> Bool {
    func value(_ name: String, in text: String) -> Int? {
        text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Int($0.dropFirst(name.count + 1)) }
    }
    let deadline = Date(timeIntervalSinceNow: 20)
    repeat {
        let metrics = try http(port: port, "GET", "/metrics").body
        if value("perflog_serve_events_committed_total", in: metrics) == committed
            && value("perflog_serve_lines_rejected_total", in: metrics) == rejected { return true }
    } while Date() < deadline
    return false
}

/// Runs `perflog check` on the log and expects it sound.
private func expectSound(_ log: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let r = try CLI.run(["check", "--log", log])
    #expect(r.status == 0, "perflog check: \(r)", sourceLocation: sourceLocation)
}

/// A temporary directory with a short name, so that socket paths fit in sun_path.
/// Writes a fresh token to `path`, mode 0600, as README says to make one; returns it.
private func writeToken(_ path: String) throws -> String {
    var random = SystemRandomNumberGenerator()
    let token = (0..<3).map { _ in String(random.next(), radix: 16) }.joined(separator: "-")
    let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
    guard fd >= 0 else { throw ServeTestFailure("cannot create \(path)") }
    defer { close(fd) }
    let line = Array((token + "\n").utf8)
    guard write(fd, line, line.count) == line.count else { throw ServeTestFailure("cannot write \(path)") }
    return token
}

private func scratch() throws -> TemporaryDirectory { try TemporaryDirectory(prefix: "pl-serve") }

// MARK: - Tests

@Suite("perflog serve", .timeLimit(.minutes(2)))
struct ServeTests {
    @Test("16 clients at once, 3,000 events each: each gets {\"ack\":3000}, the log holds every event exactly once")
    func concurrentClientsAreAllCommittedOnce() throws {
        let dir = try scratch()
        let log = dir.file("log"), socket = dir.file("s.sock")
        let service = try Service(log: log, socket: socket)
        let clients = 16, perClient = 3000, streamsPerClient = 30
        // 480 streams of exactly 100 measures: the default ring keeps all of them.
        let invocation: @Sendable (Int, Int) -> UInt64 = { c, i in UInt64(c + 1) << 32 | UInt64(i) }

        let connections = try (0..<clients).map { _ in try Client.unix(socket) }
        let start = Locked(false)
        let workers = connections.enumerated().map { c, client in
            Background { () -> Result<Replies, ServeTestFailure> in
                var bytes: [UInt8] = []
                bytes.reserveCapacity(perClient * 110)
                for i in 0..<perClient {
                    bytes += measure("t\(c)", "s\(i % streamsPerClient)", invocation: invocation(c, i), ms: 1 + i % 50).utf8
                }
                _ = start.wait(timeout: 30) { $0 }
                do { try client.write(bytes) } catch let failure as ServeTestFailure { return .failure(failure) } catch {
                    return .failure(ServeTestFailure("\(error)"))
                }
                return .success(client.replies(untilAck: perClient))
            }
        }
        start.withLock { $0 = true }
        for (c, worker) in workers.enumerated() {
            switch worker.join() {
            case .success(let replies)?:
                #expect(replies.lastAck == perClient, "client \(c): \(replies)")
                #expect(replies.errors.isEmpty, "client \(c): \(replies)")
            case .failure(let failure)?: Issue.record("client \(c): \(failure)")
            case nil: Issue.record("client \(c) did not finish")
            }
        }

        let (status, stderr, stopped) = service.stop()
        #expect(status == 0, "\(stderr)")
        #expect(stderr.isEmpty, "\(stderr)")
        #expect(stopped?["lines"] as? Int == clients * perClient, "\(String(describing: stopped))")
        #expect(stopped?["committed"] as? Int == clients * perClient, "\(String(describing: stopped))")
        #expect(stopped?["rejected"] as? Int == 0, "\(String(describing: stopped))")
        #expect(stopped?["connections"] as? Int == clients, "\(String(describing: stopped))")
        #expect(!FileManager.default.fileExists(atPath: socket), "the socket file is left after a graceful stop")

        let logged = try loggedInvocations(log)
        #expect(logged.count == clients * perClient)
        let expected = Set((0..<clients).flatMap { c in (0..<perClient).map { invocation(c, $0) } })
        #expect(Set(logged) == expected, "\(Set(logged).symmetricDifference(expected).count) invocations differ")
        try expectSound(log)
    }

    @Test("malformed lines get an error naming their line and field; the valid lines beside them are committed")
    func malformedLinesAreRefusedOneByOne() throws {
        let dir = try scratch()
        let log = dir.file("log"), socket = dir.file("s.sock")
        let service = try Service(log: log, socket: socket)
        let client = try Client.unix(socket)
        let lines = [
            measure("a", "c", invocation: 0x201),                                                     // 1
            "this is not JSON\n",                                                                     // 2
            measure("a", "c", invocation: 0x203),                                                     // 3
            "{\"kind\":\"measure\",\"agent\":\"a\",\"cli\":\"c\",\"durationMs\":-5,\"outcome\":\"ok\"}\n",       // 4
            "{\"kind\":\"measure\",\"agent\":\"a\",\"cli\":\"c\",\"durationMs\":5,\"outcome\":\"ok\",\"colour\":\"red\"}\n", // 5
            "\n",                                                                                     // 6: blank, skipped
            "{\"kind\":\"measure\",\"agent\":\"a\",\"cli\":\"c\",\"invocation\":\"0000000000000207\",\"durationMs\":5}\n", // 7
            measure("a", "c", invocation: 0x208),                                                     // 8
        ]
        try client.write(lines.joined())
        let first = client.replies(untilAck: lines.count)
        #expect(first.lastAck == lines.count, "\(first)")
        let errors = first.errors
        #expect(errors.map(\.line) == [2, 4, 5, 7], "\(first)")
        #expect(errors.map(\.field) == [nil, "durationMs", "colour", "outcome"], "\(first)")
        #expect(errors.allSatisfy { ($0.error ?? "").isEmpty == false }, "\(first)")
        #expect(errors.first.map { !$0.raw.contains("\"field\"") } == true, "a line that is not JSON names no field: \(first)")
        #expect(errors.count == 4 && errors[1].error == "must not be negative", "\(first)")
        #expect(first.inLineOrder, "\(first)")

        // The connection is still up: more lines, numbered on.
        try client.write(measure("a", "c", invocation: 0x209) + "{\"kind\":\"mark\",\"agent\":\"a\",\"cli\":\"c\"}\n")
        let second = client.replies(untilAck: 10)
        #expect(second.lastAck == 10, "\(second)")
        #expect(second.errors.map(\.line) == [10] && second.errors.first?.field == "invocation" && second.inLineOrder, "\(second)")

        let logged = try loggedInvocations(log)
        #expect(logged == [0x201, 0x203, 0x208, 0x209])
        let (status, stderr, stopped) = service.stop()
        #expect(status == 0, "\(stderr)")
        #expect(stopped?["committed"] as? Int == 4 && stopped?["rejected"] as? Int == 5, "\(String(describing: stopped))")
    }

    @Test("a line over --max-line-bytes is refused and skipped; the lines after it are taken, numbered on")
    func oversizedLinesAreSkipped() throws {
        let dir = try scratch()
        let log = dir.file("log"), socket = dir.file("s.sock")
        let tooSmall = try CLI.run(["serve", "--log", log, "--socket", socket, "--max-line-bytes", "1023"])
        #expect(tooSmall.status == 64 && tooSmall.stderr.contains("--max-line-bytes"), "\(tooSmall)")
        let service = try Service(log: log, socket: socket, options: ["--max-line-bytes", "1024"])
        let client = try Client.unix(socket)
        /// A valid measure padded with blanks inside the object to exactly `bytes` bytes.
        func padded(_ invocation: UInt64, to bytes: Int) -> String {
            let line = measure("big", "c", invocation: invocation).dropLast()  // without its line feed
            return String(line.dropLast()) + String(repeating: " ", count: bytes - line.utf8.count) + "}\n"
        }
        let exact = padded(0x305, to: 1024), over = padded(0x306, to: 1025)
        #expect(exact.utf8.count == 1025 && over.utf8.count == 1026)
        let lines = [
            measure("big", "c", invocation: 0x301),          // 1
            padded(0x302, to: 5000),                         // 2: too long, in one piece
            measure("big", "c", invocation: 0x303),          // 3
            padded(0x304, to: 300_000),                      // 4: too long, over many reads
            exact,                                           // 5: exactly the limit
            over,                                            // 6: one byte over
            "{}\n",                                          // 7
            measure("big", "c", invocation: 0x308),          // 8
        ]
        try client.write(lines.joined())
        let replies = client.replies(untilAck: 8)
        #expect(replies.lastAck == 8, "\(replies)")
        #expect(replies.errors.map(\.line) == [2, 4, 6, 7], "\(replies)")
        #expect(replies.errors.prefix(3).allSatisfy { $0.field == nil && $0.error == "is longer than 1024 bytes" }, "\(replies)")
        #expect(replies.errors.last?.field == "kind" && replies.inLineOrder, "\(replies)")

        #expect(try loggedInvocations(log) == [0x301, 0x303, 0x305, 0x308])
        let (status, stderr, _) = service.stop()
        #expect(status == 0, "\(stderr)")
    }

    @Test("half-closed with an unterminated last line: acks, an error for the cut line, then the service closes")
    func halfCloseRefusesTheUnterminatedLine() throws {
        let dir = try scratch()
        let log = dir.file("log"), socket = dir.file("s.sock")
        let service = try Service(log: log, socket: socket)
        let client = try Client.unix(socket)
        // The last line would be valid with its line feed: it must still be refused.
        let cut = String(measure("h", "c", invocation: 0x404).dropLast())
        try client.write(measure("h", "c", invocation: 0x401) + measure("h", "c", invocation: 0x402)
                         + measure("h", "c", invocation: 0x403) + cut)
        client.shutdownWrite()
        let replies = client.repliesUntilClosed()
        #expect(replies.closed, "the service did not close the connection: \(replies)")
        #expect(replies.errors.count == 1, "\(replies)")
        let error = try #require(replies.errors.first)
        #expect(error.line == 4 && error.field == nil, "\(replies)")
        #expect(error.error?.hasPrefix("ends without a line feed") == true, "\(replies)")
        let errorIndex = try #require(replies.replies.firstIndex { $0.ack == nil })
        #expect(replies.replies[..<errorIndex].contains { $0.ack == 3 }, "the complete lines are acknowledged first: \(replies)")
        #expect(replies.replies.last?.ack == 4 && replies.inLineOrder, "\(replies)")

        #expect(try loggedInvocations(log) == [0x401, 0x402, 0x403])
        let (status, stderr, stopped) = service.stop()
        #expect(status == 0, "\(stderr)")
        #expect(stopped?["committed"] as? Int == 3 && stopped?["rejected"] as? Int == 1, "\(String(describing: stopped))")
    }

    @Test("a client killed mid-line: its complete lines are committed, the others are served, the log stays sound")
    func clientKilledMidLine() throws {
        let dir = try scratch()
        let log = dir.file("log"), socket = dir.file("s.sock")
        let service = try Service(log: log, socket: socket)
        let other = try Client.unix(socket)
        try other.write(measure("other", "c", invocation: 0x511))
        #expect(other.replies(untilAck: 1).lastAck == 1)

        // Three lines acknowledged, three more sent with half a line, then SIGKILL.
        let script = """
            import os, socket, sys
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(sys.argv[1])
            def line(i):
                return ('{"kind":"measure","agent":"py","cli":"c","invocation":"%016x","durationMs":%d,"outcome":"ok"}\\n' % (0x500 + i, i)).encode()
            s.sendall(line(1) + line(2) + line(3))
            got = b""
            while b'{"ack":3}' not in got:
                chunk = s.recv(4096)
                if not chunk:
                    sys.exit("closed before the ack: %r" % got)
                got += chunk
            print("acked", flush=True)
            s.sendall(line(4) + line(5) + line(6) + line(7)[:50])
            os.kill(os.getpid(), 9)
            """
        let (pyStatus, pyOutput) = try runProgram("/usr/bin/env", ["python3", "-c", script, socket])
        #expect(pyStatus == 128 + SIGKILL, "\(pyOutput)")
        #expect(pyOutput == "acked\n", "\(pyOutput)")

        // The other client is still served, and so is a new one.
        try other.write(measure("other", "c", invocation: 0x512))
        #expect(other.replies(untilAck: 2).lastAck == 2)
        let late = try Client.unix(socket)
        try late.write(measure("late", "c", invocation: 0x513))
        let lateReplies = late.replies(untilAck: 1)
        #expect(lateReplies.lastAck == 1 && lateReplies.errors.isEmpty, "\(lateReplies)")

        // Lines 4–6 were never acknowledged (the client died): wait, with a deadline, for
        // the service to commit them.
        let wanted: Set<UInt64> = [0x501, 0x502, 0x503, 0x504, 0x505, 0x506, 0x511, 0x512, 0x513]
        let deadline = Date(timeIntervalSinceNow: 20)
        var logged = try loggedInvocations(log)
        while Set(logged) != wanted && Date() < deadline { logged = try loggedInvocations(log) }
        #expect(Set(logged) == wanted, "the log holds \(logged.map { hex($0) })")
        #expect(!logged.contains(0x507), "half a line was recorded")

        let (status, stderr, _) = service.stop()
        #expect(status == 0, "\(stderr)")
        #expect(Set(try loggedInvocations(log)) == wanted)
        try expectSound(log)
    }

    @Test("kill -9 while a client streams: a restart replaces the stale socket, every acknowledged event is in the log")
    func everyAcknowledgedEventSurvivesKill9() throws {
        let dir = try scratch()
        let log = dir.file("log"), socket = dir.file("s.sock")
        let service = try Service(log: log, socket: socket)
        // Line i goes to stream k<i/100> with invocation 0x60000000+i: no stream gets more
        // than the default ring of 100, so every committed event stays visible.
        let base: UInt64 = 0x6000_0000
        let acked = Locked(0)
        let client = try Client.unix(socket)
        let streamer = Background { () -> (sent: Int, errors: [String]) in
            var next = 1, errors: [String] = []
            var chunk: [UInt8] = [], offset = 0
            let deadline = Date(timeIntervalSinceNow: 40)
            streaming: while Date() < deadline && next < 2_000_000 {
                if offset == chunk.count {
                    chunk = Array((next..<next + 100).map { measure("k\($0 / 100)", "c", invocation: base + UInt64($0)) }.joined().utf8)
                    offset = 0
                    next += 100
                }
                var p = pollfd(fd: client.fd, events: Int16(POLLIN | POLLOUT), revents: 0)
                guard poll(&p, 1, 1000) > 0 else { continue }
                if Int32(p.revents) & Int32(POLLIN | POLLHUP | POLLERR) != 0 {
                    // Every reply already here: the service sent these before it died.
                    while let line = client.nextLine(until: Date()) {
                        let reply = Reply(line)
                        if let ack = reply.ack { acked.withLock { $0 = max($0, ack) } } else { errors.append(line) }
                    }
                    if client.closedByPeer { break streaming }
                }
                if Int32(p.revents) & Int32(POLLOUT) != 0 {
                    let n = client.writeWithoutWaiting(chunk[offset...])
                    if n == 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR {
                        // The service is gone: what it acknowledged is still to be read.
                        while let line = client.nextLine(until: Date(timeIntervalSinceNow: 5)) {
                            if let ack = Reply(line).ack { acked.withLock { $0 = max($0, ack) } } else { errors.append(line) }
                        }
                        break streaming
                    }
                    offset += n
                }
            }
            let sentLines = next - 100 + chunk[..<offset].count(where: { $0 == 0x0A })
            return (sentLines, errors)
        }
        // Kill it mid-stream, once a few thousand lines are acknowledged.
        #expect(acked.wait(timeout: 30) { $0 >= 3000 }, "no acks from the service")
        let killed = service.stop(SIGKILL)
        #expect(killed.status == 128 + SIGKILL)
        let outcome = try #require(streamer.join(), "the client never noticed the service died")
        #expect(outcome.errors.isEmpty, "\(outcome.errors.prefix(5))")
        let lastAck = acked.withLock { $0 }
        #expect(lastAck >= 3000 && lastAck <= outcome.sent, "acknowledged \(lastAck) of \(outcome.sent) lines sent")

        // The socket file is stale now; a new service replaces it.
        var st = stat()
        let statted = lstat(socket, &st)
        #expect(statted == 0 && st.st_mode & S_IFMT == S_IFSOCK, "kill -9 leaves the socket file")
        let restarted = try Service(log: log, socket: socket)
        let probe = try Client.unix(socket)
        try probe.write(measure("after", "c", invocation: 0x6FFF_FFFF))
        #expect(probe.replies(untilAck: 1).lastAck == 1)

        let logged = try loggedInvocations(log)
        #expect(Set(logged).count == logged.count, "an event is in the log twice")
        let present = Set(logged)
        let missing = (1...lastAck).filter { !present.contains(base + UInt64($0)) }
        #expect(missing.isEmpty, "\(missing.count) of \(lastAck) acknowledged events are missing, first \(missing.prefix(5))")
        #expect(present.contains(0x6FFF_FFFF))
        let (status, stderr, _) = restarted.stop()
        #expect(status == 0, "\(stderr)")
        try expectSound(log)
    }

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
        #expect(classicOutput.contains("summary perflog_invocation_duration_seconds_count"), "\(classicOutput)")

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

    @Test("a client that never reads its replies, or holds half a line, does not hold up another client")
    func slowClientsSlowOnlyThemselves() throws {
        let dir = try scratch()
        let log = dir.file("log"), socket = dir.file("s.sock")
        let service = try Service(log: log, socket: socket)

        // Lines that each earn an error reply 20 times their size: the replies pile up
        // unread until the service must stop reading from this client.
        let slow = try Client.unix(socket)
        let junk = Array(String(repeating: "{}\n", count: 21_845).utf8)
        var written = 0
        let cap = 64 << 20
        while written < cap {
            // From where the last write stopped, mid-line or not.
            let n = slow.writeWithoutWaiting(junk[(written % 3)...])
            if n == 0 { break }  // full: the service is not taking more
            written += n
        }
        #expect(written < cap, "the service read \(written) bytes from a client that reads none of its replies")

        let holder = try Client.unix(socket)
        try holder.write("{\"kind\":\"measure\",\"agent\":\"half\",")

        let good = try Client.unix(socket)
        // Five streams of 100: the default ring keeps every one.
        let lines = (1...500).map { measure("good\($0 % 5)", "c", invocation: 0x800 + UInt64($0)) }
        try good.write(lines.joined(), timeout: 20)
        let replies = good.replies(untilAck: 500, timeout: 20)
        #expect(replies.lastAck == 500 && replies.errors.isEmpty, "\(replies)")

        // The holder finishes its line; it is taken like any other.
        try holder.write("\"cli\":\"c\",\"invocation\":\"0000000000000a00\",\"durationMs\":3,\"outcome\":\"ok\"}\n")
        let held = holder.replies(untilAck: 1)
        #expect(held.lastAck == 1 && held.errors.isEmpty, "\(held)")

        // The slow client catches up: it finishes its last line and reads; every line
        // it sent is answered.
        let pendingLine = (3 - written % 3) % 3
        try slow.write(Array(junk[(written % 3)..<(written % 3 + pendingLine)]))
        let slowLines = (written + pendingLine) / 3
        let caughtUp = slow.replies(untilAck: slowLines)
        #expect(caughtUp.lastAck == slowLines, "sent \(slowLines) lines: \(caughtUp)")
        #expect(caughtUp.replies.filter { $0.raw.hasPrefix("{\"line\":") }.count == slowLines, "\(caughtUp)")
        slow.shutdownWrite()
        let end = slow.repliesUntilClosed()
        #expect(end.closed && end.replies.isEmpty, "\(end)")

        var expected = Set(lines.indices.map { 0x801 + UInt64($0) })
        expected.insert(0xA00)
        let logged = Set(try loggedInvocations(log))
        #expect(logged == expected, "missing \(expected.subtracting(logged).count), unexpected \(logged.subtracting(expected).count)")
        let (status, stderr, _) = service.stop()
        #expect(status == 0, "\(stderr)")
    }

    /// How a connection ends while its client has not read its replies yet.
    enum LateEnding: String, CaseIterable, CustomTestStringConvertible {
        case halfClose = "the client half-closes"
        case gracefulStop = "the service is stopped with SIGTERM"
        var testDescription: String { rawValue }
    }

    @Test("a client that reads late still gets every reply before the service closes", arguments: LateEnding.allCases)
    func lateReaderGetsEveryReply(_ ending: LateEnding) throws {
        let dir = try scratch()
        let log = dir.file("log"), socket = dir.file("s.sock")
        let service = try Service(log: log, socket: socket, options: ["--http", "127.0.0.1:0"])
        let port = try #require(service.httpPort)
        let client = try Client.unix(socket)
        // 20,000 refused lines (a megabyte and more of error replies), then one to commit.
        let bad = 20_000
        try client.writeWithoutReading(Array((String(repeating: "{}\n", count: bad) + measure("late", "c", invocation: 0xB01)).utf8))
        if ending == .halfClose { client.shutdownWrite() }
        // Only once the service has answered every line does the client start reading.
        #expect(try waitForCounters(port: port, committed: 1, rejected: bad), "the service never answered every line")
        if ending == .gracefulStop { service.process.send(SIGTERM) }
        let replies = client.repliesUntilClosed()
        #expect(replies.closed, "\(replies)")
        #expect(replies.replies.count(where: { $0.ack == nil }) == bad, "\(replies)")
        #expect(replies.lastAck == bad + 1, "line \(bad + 1) was committed but never acknowledged: \(replies)")
        #expect(try loggedInvocations(log) == [0xB01])
        let (status, stderr) = ending == .gracefulStop ? service.process.wait() : { let r = service.stop(); return (r.status, r.stderr) }()
        #expect(status == 0, "\(stderr)")
    }

    @Test("the socket: mode 0600, a live one is not taken over (75), a file is left alone (73), a stale one is replaced, --max-connections")
    func socketFileRules() throws {
        let dir = try scratch()
        let log = dir.file("log"), socket = dir.file("s.sock")
        let service = try Service(log: log, socket: socket, options: ["--max-connections", "1"])
        #expect(service.startup["socket"] as? String == socket && service.startup["log"] as? String == log, "\(service.startup)")
        #expect(service.startup["pid"] as? Int == Int(service.process.process.processIdentifier), "\(service.startup)")
        var st = stat()
        let statted = lstat(socket, &st)
        #expect(statted == 0)
        #expect(st.st_mode & S_IFMT == S_IFSOCK)
        #expect(st.st_mode & 0o777 == 0o600, "mode \(String(st.st_mode & 0o777, radix: 8))")

        // --max-connections 1: the first connection is served, the second is told and closed.
        let first = try Client.unix(socket)
        try first.write(measure("m", "c", invocation: 0x901))
        #expect(first.replies(untilAck: 1).lastAck == 1, "the first service no longer answers on its socket")
        let refused = try Client.unix(socket)
        let refusal = refused.repliesUntilClosed()
        #expect(refusal.closed && refusal.replies.count == 1, "\(refusal)")
        let message = refusal.replies.first.map { decodeObject($0.raw)["error"] as? String } ?? nil
        #expect(message?.contains("too many connections") == true, "\(refusal)")
        try first.write(measure("m", "c", invocation: 0x902))
        #expect(first.replies(untilAck: 2).lastAck == 2)
        first.shutdownWrite()
        #expect(first.repliesUntilClosed().closed)

        // A second service on the same socket: refused, and the first keeps it.
        let second = try CLI.run(["serve", "--log", log, "--socket", socket, "--json"])
        #expect(second.status == 75, "\(second)")
        #expect(second.stdout.isEmpty && second.stderr.contains("another perflog serve is listening"), "\(second)")

        // Once the first client (and the second service's probe) are gone, a new
        // connection is served: the service notices each close on its own event loop, so
        // retry until then, with a deadline.
        let deadline = Date(timeIntervalSinceNow: 10)
        var servedAgain = false
        while !servedAgain && Date() < deadline {
            let next = try Client.unix(socket)
            try next.write(measure("m", "c", invocation: 0x903))
            let replies = next.replies(untilAck: 1, timeout: 5)
            servedAgain = replies.lastAck == 1
            if !servedAgain { #expect(replies.replies.first?.raw.contains("too many connections") == true, "\(replies)") }
        }
        #expect(servedAgain, "connections are refused after the others closed, or the first service lost its socket")
        #expect(Set(try loggedInvocations(log)) == [0x901, 0x902, 0x903])
        let (status, stderr, _) = service.stop()
        #expect(status == 0, "\(stderr)")

        // A regular file where the socket would go: exit 73, the file untouched.
        let file = dir.file("not-a-socket")
        try "keep me\n".write(toFile: file, atomically: true, encoding: .utf8)
        let onFile = try CLI.run(["serve", "--log", log, "--socket", file, "--json"])
        #expect(onFile.status == 73, "\(onFile)")
        #expect(onFile.stdout.isEmpty && onFile.stderr.contains("is not a socket"), "\(onFile)")
        #expect(try String(contentsOfFile: file, encoding: .utf8) == "keep me\n")

        // A stale socket (bound, then abandoned without unlink): replaced.
        let stale = dir.file("stale.sock")
        #expect(abandonSocket(at: stale), "cannot bind \(stale)")
        let replacement = try Service(log: log, socket: stale)
        let client = try Client.unix(stale)
        try client.write(measure("m", "c", invocation: 0x904))
        #expect(client.replies(untilAck: 1).lastAck == 1)
        let (replacedStatus, replacedStderr, _) = replacement.stop()
        #expect(replacedStatus == 0, "\(replacedStderr)")
        #expect(!FileManager.default.fileExists(atPath: stale))
    }

    @Test("a mark, then a measure without durationMs: one measure, timed from the mark")
    func markThenMeasureIsTimedByTheService() throws {
        let dir = try scratch()
        let log = dir.file("log"), socket = dir.file("s.sock")
        let service = try Service(log: log, socket: socket)
        let client = try Client.unix(socket)
        try client.write("{\"kind\":\"mark\",\"agent\":\"a\",\"cli\":\"c\",\"invocation\":\"ab12\"}\n")
        let marked = client.replies(untilAck: 1)
        #expect(marked.lastAck == 1 && marked.errors.isEmpty, "\(marked)")
        let inFlight = try tailEvents(log)
        #expect(inFlight.count == 1 && inFlight.first?["kind"] as? String == "mark", "\(inFlight)")

        try client.write("{\"kind\":\"measure\",\"invocation\":\"ab12\",\"outcome\":\"ok\"}\n")
        let measured = client.replies(untilAck: 2)
        #expect(measured.lastAck == 2 && measured.errors.isEmpty, "\(measured)")
        let events = try tailEvents(log)
        #expect(events.count == 1, "the mark is still in flight, or the measure is missing: \(events)")
        let event = try #require(events.first)
        #expect(event["kind"] as? String == "measure")
        #expect(event["invocation"] as? String == "000000000000ab12")
        #expect(event["agent"] as? String == "a" && event["cli"] as? String == "c")
        #expect(event["outcome"] as? String == "ok")
        // The time between the two lines includes a whole `perflog tail` run.
        #expect((event["durationMs"] as? Double ?? 0) > 0, "\(event)")

        // Ending it again names no invocation in flight.
        try client.write("{\"kind\":\"measure\",\"invocation\":\"ab12\",\"outcome\":\"ok\"}\n")
        let again = client.replies(untilAck: 3)
        #expect(again.errors.map(\.line) == [3] && again.errors.first?.field == "invocation", "\(again)")

        // A mark left in flight when the service stops (SIGINT, as Ctrl-C) is ended after
        // a restart: through the log's open mark.
        try client.write("{\"kind\":\"mark\",\"agent\":\"a\",\"cli\":\"c\",\"invocation\":\"cd34\"}\n")
        #expect(client.replies(untilAck: 4).lastAck == 4)
        let (status, stderr, stopped) = service.stop(SIGINT)
        #expect(status == 0, "\(stderr)")
        #expect(stopped?["committed"] as? Int == 3, "\(String(describing: stopped))")
        let restarted = try Service(log: log, socket: socket)
        let next = try Client.unix(socket)
        try next.write("{\"kind\":\"measure\",\"invocation\":\"cd34\",\"outcome\":\"failed\",\"exitCode\":2}\n")
        let ended = next.replies(untilAck: 1)
        #expect(ended.lastAck == 1 && ended.errors.isEmpty, "\(ended)")
        let (restartedStatus, restartedStderr, _) = restarted.stop()
        #expect(restartedStatus == 0, "\(restartedStderr)")
        let final = try tailEvents(log)
        #expect(final.count == 2 && final.allSatisfy { $0["kind"] as? String == "measure" }, "\(final)")
        let cd34 = final.first { $0["invocation"] as? String == "000000000000cd34" }
        #expect(cd34?["outcome"] as? String == "failed" && cd34?["exitCode"] as? Int == 2 && cd34?["agent"] as? String == "a", "\(final)")
        #expect((cd34?["durationMs"] as? Double ?? 0) > 0, "\(final)")
        try expectSound(log)
    }

    @Test("the README's Node.js client: each promise resolves once its event is committed, a bad event is refused")
    func nodeClientExample() throws {
        // node is installed by tools/setup (Debian's nodejs); a missing node is a failure.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let example = root.appendingPathComponent("examples/node/perflog-client.mjs").path
        let dir = try scratch()
        let log = dir.file("log"), socket = dir.file("s.sock")
        let service = try Service(log: log, socket: socket)
        let (status, output) = try runProgram("/usr/bin/env", ["node", example, socket, "300"])
        #expect(status == 0, "\(output)")
        let summary = decodeObject(output.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(summary["committed"] as? Int == 302, "\(output)")
        #expect((summary["refused"] as? String)?.hasPrefix("line 303 (durationMs): must not be negative") == true, "\(output)")
        let (stopStatus, stderr, stopped) = service.stop()
        #expect(stopStatus == 0, "\(stderr)")
        #expect(stopped?["committed"] as? Int == 302 && stopped?["rejected"] as? Int == 1, "\(String(describing: stopped))")
        let events = try tailEvents(log, count: 1000)
        #expect(events.filter { $0["kind"] as? String == "measure" }.count == 301, "one measure per event and one for the timed run")
        let planner = events.first { $0["agent"] as? String == "node-planner" && $0["kind"] as? String == "measure" }
        #expect((planner?["durationMs"] as? Double ?? 0) >= 25, "timed by the client around its 25 ms of work: \(String(describing: planner))")
        #expect(events.filter { $0["kind"] as? String == "mark" }.isEmpty, "the timed run's mark is closed by its measure")
        try expectSound(log)
    }

    @Test("--project keeps agent-performance.json current while the service runs")
    func projectWhileServing() throws {
        let dir = try scratch()
        let log = dir.file("log"), socket = dir.file("s.sock"), out = dir.file("agent-performance.json")
        let service = try Service(log: log, socket: socket, options: ["--project", "--out", out])
        let client = try Client.unix(socket)
        try client.write((0..<40).map { measure("planner", $0 % 2 == 0 ? "claude" : "codex", invocation: 0xD00 + UInt64($0)) }.joined())
        #expect(client.replies(untilAck: 40).lastAck == 40)
        // Written by the service's recorder after the commit: wait for it, with a deadline.
        let deadline = Date(timeIntervalSinceNow: 30)
        var projection: [String: Any] = [:]
        while Date() < deadline {
            if let data = FileManager.default.contents(atPath: out),
               let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
               (json["measurements"] as? [Any])?.count == 40 {
                projection = json
                break
            }
        }
        #expect((projection["measurements"] as? [Any])?.count == 40, "the projection never showed the 40 measures")
        #expect((projection["streams"] as? [[String: Any]])?.map { $0["cli"] as? String } == ["claude", "codex"])
        let (status, stderr, _) = service.stop()
        #expect(status == 0, "\(stderr)")
    }

    @Test("however the bytes are cut into writes, the service finds the same lines: same errors, same final ack, same log")
    func linesDoNotDependOnHowTheyArrive() throws {
        // Valid, invalid, blank, CR LF, over-long (in one write and across many) lines.
        var text = ""
        var valid: Set<UInt64> = []
        for i in 0..<120 {
            switch i % 8 {
            case 0: text += "\n"
            case 1: text += "{\"kind\":\"measure\",\"agent\":\"x\"}\n"
            case 2: text += String(repeating: "z", count: 1500 + i) + "\n"
            case 3: text += "not json at all\r\n"
            default:
                text += measure("cut", "c", invocation: 0xE00 + UInt64(i), ms: i).dropLast() + "\r\n"
                valid.insert(0xE00 + UInt64(i))
            }
        }
        let bytes = Array(text.utf8)
        var outcomes: [[String]] = []
        for seed in [1, 2, 3] as [UInt64] {
            let dir = try scratch()
            let log = dir.file("log"), socket = dir.file("s.sock")
            let service = try Service(log: log, socket: socket, options: ["--max-line-bytes", "1024"])
            let client = try Client.unix(socket)
            // Pieces of 1 to 97 bytes (seed 1 sends it all at once).
            var rng = SystemRandomNumberGenerator()
            var offset = 0
            while offset < bytes.count {
                let piece = seed == 1 ? bytes.count : Int.random(in: 1...97, using: &rng)
                let end = min(bytes.count, offset + piece)
                try client.write(Array(bytes[offset..<end]))
                offset = end
            }
            let replies = client.replies(untilAck: 120)
            #expect(replies.lastAck == 120 && replies.inLineOrder, "\(replies)")
            outcomes.append(replies.errors.map { "\($0.line ?? 0) \($0.field ?? "-") \($0.error ?? "")" })
            let (status, stderr, _) = service.stop()
            #expect(status == 0, "\(stderr)")
            #expect(Set(try loggedInvocations(log)) == valid)
        }
        #expect(outcomes[0].count == 45, "\(outcomes[0])")
        #expect(outcomes[1] == outcomes[0] && outcomes[2] == outcomes[0])
    }

    @Test("a full disk: lines whose commit failed get an error, the connection stays up, recording resumes once space returns")
    func fullDisk() throws {
        let dir = try scratch()
        let disk = dir.file("disk")
        try FileManager.default.createDirectory(atPath: disk, withIntermediateDirectories: true)
        #expect(try runCommand(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", disk]).status == 0, "the fault tests need root to mount a tmpfs")
        defer { _ = try? runCommand(["umount", "-l", disk]) }
        let log = disk + "/log", socket = dir.file("s.sock")
        let service = try Service(log: log, socket: socket)
        let client = try Client.unix(socket)
        let meta = "{" + (0..<16).map { "\"k\($0)\":\"" + String(repeating: "v", count: 250) + "\"" }.joined(separator: ",") + "}"
        func line(_ i: Int) -> String {
            "{\"kind\":\"measure\",\"agent\":\"a\(i % 50)\",\"cli\":\"c\",\"invocation\":\"\(hex(0xF000 + UInt64(i)))\",\"durationMs\":1,\"outcome\":\"ok\",\"meta\":\(meta)}\n"
        }
        // One line at a time, each answered before the next, until a commit fails.
        var committed: Set<UInt64> = []
        var failedLine: Int?
        for i in 1...1_000 {
            try client.write(line(i))
            let replies = client.replies(untilAck: i)
            #expect(replies.lastAck == i, "\(replies)")
            if let error = replies.errors.first {
                #expect(error.line == i && error.error?.contains("no space left") == true, "\(error)")
                failedLine = i
                break
            }
            committed.insert(0xF000 + UInt64(i))
        }
        let failed = try #require(failedLine, "the disk never filled")
        #expect(!committed.isEmpty)
        #expect(try runCommand(["mount", "-o", "remount,size=8m", disk]).status == 0)
        try client.write(line(failed + 1))
        let after = client.replies(untilAck: failed + 1)
        #expect(after.errors.isEmpty && after.lastAck == failed + 1, "\(after)")
        committed.insert(0xF000 + UInt64(failed + 1))
        // The clients were told: the stop is clean, with the loss counted and a warning.
        let (status, stderr, stopped) = service.stop()
        #expect(status == 0, "\(stderr)")
        #expect(stopped?["lost"] as? Int == 1 && stderr.contains("1 event was not stored"), "\(String(describing: stopped)) \(stderr)")
        #expect(Set(try loggedInvocations(log)) == committed)
        try expectSound(log)
    }

    @Test("a line left without its line feed past --line-timeout is refused and its connection closed; others carry on")
    func lineTimeout() throws {
        let dir = try scratch()
        let log = dir.file("log"), socket = dir.file("s.sock")
        let service = try Service(log: log, socket: socket, options: ["--line-timeout", "1"])
        let stuck = try Client.unix(socket)
        let other = try Client.unix(socket)
        try stuck.write(measure("stuck", "c", invocation: 0x901) + String(measure("stuck", "c", invocation: 0x902).prefix(30)))
        // Nothing more comes from this client: after a second the service gives up on it.
        let replies = stuck.repliesUntilClosed()
        #expect(replies.closed && replies.lastAck == 2, "\(replies)")
        #expect(replies.errors.count == 1 && replies.errors.first?.line == 2
                && replies.errors.first?.error?.hasPrefix("no line feed within 1 s") == true, "\(replies)")
        try other.write(measure("other", "c", invocation: 0x903))
        #expect(other.replies(untilAck: 1).lastAck == 1)
        let (status, stderr, _) = service.stop()
        #expect(status == 0, "\(stderr)")
        #expect(Set(try loggedInvocations(log)) == [0x901, 0x903])
    }
}

extension ServeTests {
    @Test("a stopped process holds the log: lines get 'not stored … resend' within --wait, /healthz says degraded; resent after, nothing is lost")
    func heldLog() throws {
        let dir = try scratch()
        let log = dir.file("log"), socket = dir.file("s.sock")
        let service = try Service(log: log, socket: socket, options: ["--http", "127.0.0.1:0", "--wait", "2s"])
        let port = try #require(service.httpPort)
        let client = try Client.unix(socket)
        try client.write(measure("a", "c", invocation: 0xA01))
        #expect(client.replies(untilAck: 1).errors.isEmpty)

        let holder = try HeldLog(log: log)
        let started = Date()
        try client.write(measure("a", "c", invocation: 0xA02) + measure("b", "c", invocation: 0xA03))
        let held = client.replies(untilAck: 3)
        let elapsed = Date().timeIntervalSince(started)
        print("serve --wait 2s answered lines it could not commit after \(String(format: "%.2f", elapsed)) s")
        #expect(held.lastAck == 3, "\(held)")
        #expect(elapsed < 10, "bounded: the replies came after \(elapsed) s")
        #expect(held.errors.map(\.line) == [2, 3], "\(held)")
        for error in held.errors {
            #expect(error.error?.hasPrefix("not stored: the log is held by pid \(holder.pid)") == true, "\(error)")
            #expect(error.error?.hasSuffix("; resend") == true, "\(error)")
        }
        let degraded = try http(port: port, "GET", "/healthz")
        #expect(degraded.status == 503, "\(degraded)")
        let health = decodeObject(degraded.body)
        #expect(health["status"] as? String == "degraded", "\(degraded)")
        #expect((health["reason"] as? String)?.contains("held by pid \(holder.pid)") == true, "\(degraded)")
        // Readers do not wait for the holder.
        let tail = try CLI.run(["tail", "--json", "--log", log])
        #expect(tail.status == 0 && tail.stdoutLines.count == 1, "\(tail)")

        #expect(holder.release() == 0)
        try client.write(measure("a", "c", invocation: 0xA02) + measure("b", "c", invocation: 0xA03))
        let resent = client.replies(untilAck: 5)
        #expect(resent.errors.isEmpty && resent.lastAck == 5, "\(resent)")
        let healthy = try http(port: port, "GET", "/healthz")
        #expect(healthy.status == 200 && decodeObject(healthy.body)["status"] as? String == "ok", "\(healthy)")

        let (status, stderr, stopped) = service.stop()
        #expect(status == 0, "\(stderr)")
        #expect(stopped?["lost"] as? Int == 2, "\(String(describing: stopped))")
        #expect(Set(try loggedInvocations(log)) == [0xA01, 0xA02, 0xA03])
        try expectSound(log)
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

@Suite("perflog serve: the socket file is safe", .timeLimit(.minutes(2)))
struct ServeSocketSafetyTests {
    @Test("a socket in a directory every user may write, without the sticky bit, is refused (73); with the sticky bit it is taken")
    func worldWritableDirectoryWithoutStickyBit() throws {
        let dir = try scratch()
        let open = dir.file("open")
        mkdir(open, 0o777)
        chmod(open, 0o777)
        let r = try CLI.run(["serve", "--log", dir.file("log"), "--socket", open + "/s.sock"])
        #expect(r.status == 73, "\(r)")
        #expect(r.stderr.contains("sticky bit") && r.stderr.split(separator: "\n").count == 1, "\(r)")
        #expect(!FileManager.default.fileExists(atPath: open + "/s.sock"))

        chmod(open, 0o1777)
        let service = try Service(log: dir.file("log"), socket: open + "/s.sock")
        #expect(service.stop().status == 0)
    }

    @Test("at its stop, serve leaves alone a socket another service bound at its path since")
    func doesNotUnlinkAReplacedSocket() throws {
        let dir = try scratch()
        let path = dir.file("s.sock")
        let service = try Service(log: dir.file("log"), socket: path)
        #expect(rename(path, dir.file("moved.sock")) == 0)
        let other = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(other) }
        var address = unixAddress(path)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(other, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        #expect(bound == 0)
        #expect(service.stop().status == 0)
        var st = stat()
        #expect(lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFSOCK, "the other service's socket was removed")
    }
}
