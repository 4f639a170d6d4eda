import Foundation
import PerfLogTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// What the serve tests share: the service started as a user runs it, socket and HTTP
// clients with deadlines, and reading the log they fed.

// MARK: - The service as a user runs it

/// `perflog serve --json` started as a user would, ready once it printed where it listens.
final class Service {
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

struct ServeTestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

// MARK: - Socket clients

/// One reply line from the service: `{"ack":N}` or `{"line":N,"field":…,"error":…}`.
struct Reply: Sendable, CustomStringConvertible {
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
struct Replies: Sendable, CustomStringConvertible {
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
final class Client: @unchecked Sendable {
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
func abandonSocket(at path: String) -> Bool {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = unixAddress(path)
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    } == 0
}

func unixAddress(_ path: String) -> sockaddr_un {
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

struct HTTPReply: CustomStringConvertible {
    var status: Int
    var headers: [String: String]
    var body: String
    var description: String { "HTTP \(status) \(headers) \(body)" }
}

/// Sends one HTTP/1.1 request (Connection: close) and reads the whole answer.
func http(port: Int, _ method: String, _ target: String, body: String? = nil, token: String? = nil) throws -> HTTPReply {
    var request = "\(method) \(target) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
    if let token { request += "Authorization: Bearer \(token)\r\n" }
    if let body { request += "Content-Type: application/x-ndjson\r\nContent-Length: \(body.utf8.count)\r\n" }
    request += "\r\n" + (body ?? "")
    return try rawHTTP(port: port, request)
}

func rawHTTP(port: Int, _ request: String) throws -> HTTPReply {
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
final class Locked<Value>: @unchecked Sendable {
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
final class Background<T: Sendable>: @unchecked Sendable {
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
func hex(_ value: UInt64) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: max(0, 16 - digits.count)) + digits
}

/// One measure line (with its line feed) of a known invocation.
func measure(_ agent: String, _ cli: String, invocation: UInt64, ms: Int = 5, outcome: String = "ok") -> String {
    "{\"kind\":\"measure\",\"agent\":\"\(agent)\",\"cli\":\"\(cli)\",\"invocation\":\"\(hex(invocation))\",\"durationMs\":\(ms),\"outcome\":\"\(outcome)\"}\n"
}

/// The invocation of every event `perflog export --format ndjson` lists (every retained
/// measure and open mark), in commit order.
func loggedInvocations(_ log: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> [UInt64] {
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
func tailEvents(_ log: String, count: Int = 1000, sourceLocation: SourceLocation = #_sourceLocation) throws -> [[String: Any]] {
    let r = try CLI.run(["tail", "--json", "-n", String(count), "--log", log])
    #expect(r.status == 0, "\(r)", sourceLocation: sourceLocation)
    return r.stdoutLines.map { decodeObject($0, sourceLocation: sourceLocation) }
}

/// Waits (with a deadline; an issue at the caller after it) until the service's counters
/// on /metrics show `committed` events committed and `rejected` lines refused, that is
/// until it has answered them; returns whether they did.
@discardableResult
func waitForCounters(port: Int, committed: Int, rejected: Int, sourceLocation: SourceLocation = #_sourceLocation) throws -> Bool {
    func value(_ name: String, in text: String) -> Int? {
        text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Int($0.dropFirst(name.count + 1)) }
    }
    return try eventually("the service answered every line: /metrics shows \(committed) committed, \(rejected) rejected",
                          within: 20, sourceLocation: sourceLocation) {
        let metrics = try http(port: port, "GET", "/metrics").body
        return value("perflog_serve_events_committed_total", in: metrics) == committed
            && value("perflog_serve_lines_rejected_total", in: metrics) == rejected
    }
}

/// Runs `perflog check` on the log and expects it sound.
func expectSound(_ log: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let r = try CLI.run(["check", "--log", log])
    #expect(r.status == 0, "perflog check: \(r)", sourceLocation: sourceLocation)
}

/// Writes a fresh token to `path`, mode 0600, as README says to make one; returns it.
func writeToken(_ path: String) throws -> String {
    var random = SystemRandomNumberGenerator()
    let token = (0..<3).map { _ in String(random.next(), radix: 16) }.joined(separator: "-")
    let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
    guard fd >= 0 else { throw ServeTestFailure("cannot create \(path)") }
    defer { close(fd) }
    let line = Array((token + "\n").utf8)
    guard write(fd, line, line.count) == line.count else { throw ServeTestFailure("cannot write \(path)") }
    return token
}

/// A temporary directory with a short name, so that socket paths fit in sun_path.
func scratch() throws -> TemporaryDirectory { try TemporaryDirectory(prefix: "pl-serve") }
