import ArgumentParser
import LMDB
import PerfLog
#if canImport(Glibc)
import Glibc
#endif

/// `serve-ingest`: concurrent clients write events to `perflog serve` over its Unix
/// socket, as a program in another language would, and wait for the acknowledgements.
struct ServeIngest: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve-ingest",
        abstract: "Events per second through `perflog serve`'s Unix socket from concurrent clients, and ack latency.",
        discussion: """
            Starts the perflog built beside this benchmark as `perflog serve` on a new log, \
            connects --clients clients at once, and has each write --events NDJSON \
            measures (the full event shape, as `perflog tail --json` prints it) in writes of \
            --chunk lines, keeping at most --window lines unacknowledged. The clock runs \
            from the first write to the last acknowledgement. Ack latency is per event: \
            from the write that carried its line to the reply that acknowledged it.

            Afterwards the service is stopped with SIGTERM (it must exit 0) and the log is \
            checked: every client got its last line acknowledged without an error reply, \
            the log holds exactly clients × events measures (none lost, none twice), and \
            every stream's ring holds the newest of what was sent to it, in order.
            """)

    @Option(help: "Concurrent socket clients.") var clients = 16
    @Option(help: "Events each client sends.") var events = 100_000
    @Option(help: "Lines per write.") var chunk = 256
    @Option(help: "Unacknowledged lines a client allows before it waits.") var window = 1_024
    @Option(help: "Streams each client writes to (disjoint between clients).") var streamsPerClient = 64
    @Option(help: "durable, default or fast (the service's --durability).") var durability = "default"
    @OptionGroup var common: CommonOptions

    @Flag(help: "Run redis-baseline with the same clients, streams and window after each round, and report vs_redis.")
    var vsRedis = false

    func run() throws {
        guard EventLog.Durability(rawValue: durability) != nil else {
            throw ValidationError("--durability must be durable, default or fast")
        }
        let perflog = try perflogBinary()
        let inputs = (0..<clients).map { ClientInput(client: $0, events: events, streams: streamsPerClient) }
        let redisInputs = vsRedis
            ? (0..<clients).map { ClientInput(redisClient: $0, events: events, streams: streamsPerClient, maxLength: RedisBaseline.maxLength) }
            : []
        var rounds: [RoundFigures] = [], redisRounds: [RoundFigures] = []
        for _ in 0..<common.repeat {
            rounds.append(try round(perflog, inputs))
            if vsRedis {
                redisRounds.append(try RedisBaseline.round(redisInputs, events: events, chunk: chunk, window: window))
            }
        }
        var r = Report()
        r.add("case", "serve-ingest")
        r.add("clients", clients)
        r.add("events", clients * events)
        r.add("window", window)
        r.add("durability", durability)
        RoundFigures.report(rounds, into: &r)
        if vsRedis {
            r.add("redis_events_per_s", median(redisRounds.map(\.rate)))
            r.add("redis_ack_p50_ns", median(redisRounds.map(\.p50)))
            // Paired: each perflog round against the Redis round run right after it.
            r.add("vs_redis", median(zip(rounds, redisRounds).map { $0.rate / $1.rate }))
            r.add("redis_verified", redisRounds.allSatisfy { $0.problem == nil })
            if let problem = redisRounds.compactMap(\.problem).first { r.add("redisVerifyProblem", problem) }
        }
        print(r.line)
    }

    private func round(_ perflog: String, _ inputs: [ClientInput]) throws -> RoundFigures {
        let dir = makeTemporaryDirectory("serve")
        defer { removeTree(dir) }
        let socketPath = dir + "/s.sock"
        let server = try ServerProcess(argv: [perflog, "serve", "--log", dir + "/log", "--socket", socketPath,
                                              "--durability", durability, "--json"])
        let results: [ClientResult]
        do {
            results = try runClients(inputs, endpoint: .unix(socketPath), chunk: chunk, window: window, reader: AckReader.self)
        } catch {
            _ = server.stop()
            throw error
        }
        let exit = server.stop()
        var figures = RoundFigures(results, events: inputs.count * events)
        let clean = results.allSatisfy { $0.acked == events && $0.errors == 0 }
        figures.problem = exit != 0 ? "the service exited with \(exit)"
            : !clean ? "a client saw errors or missing acks" : try verify(dir + "/log", inputs)
        return figures
    }

    /// The log holds exactly what the clients sent: every measure once, each ring the
    /// newest of its stream in sending order.
    /// Why the log does not hold exactly what the clients sent; nil when it does.
    func verify(_ path: String, _ inputs: [ClientInput]) throws -> String? {
        let log = try EventLog(path: path, options: { var o = EventLog.Options(); o.create = false; return o }())
        let retain = log.retain
        return try log.read { r -> String? in
            let last = try r.lastSeq()
            guard last == UInt64(inputs.count * events) else { return "the log's last seq is \(last), not \(inputs.count * events)" }
            for input in inputs {
                for (s, stream) in input.streams.enumerated() {
                    // Client lines go to streams in turn: stream s got lines s, s + streams, …
                    let sent = Array(stride(from: s, to: input.invocations.count, by: input.streams.count))
                    guard let summary = try r.summary(stream) else { return "\(stream) is missing" }
                    guard summary.appended == UInt64(sent.count) else { return "\(stream) has \(summary.appended) measures, not \(sent.count)" }
                    let ring = try r.ring(stream).map(\.invocation.rawValue)
                    let expected = sent.suffix(retain).map { input.invocations[$0] }
                    if ring != expected { return "\(stream)'s ring holds other invocations than were sent" }
                }
            }
            return nil
        }
    }
}

/// Runs one client thread per input against `endpoint`, started together.
/// - Throws: the first client's failure (a refused connection, a failed write).
func runClients<Reader: ReplyReader>(_ inputs: [ClientInput], endpoint: Endpoint, chunk: Int, window: Int,
                                     reader: Reader.Type) throws -> [ClientResult] {
    let start = StartLine(parties: inputs.count)
    let threads = inputs.map { input in
        BenchThread.start {
            Client<Reader>(input: input, endpoint: endpoint, chunk: chunk, window: window).run(start: start)
        }
    }
    let results = threads.map { $0.join() }
    if let failure = results.first(where: { $0.failure != nil })?.failure { throw BenchError(failure) }
    return results
}

/// One round's figures: rate over the whole round, per-event ack latencies.
struct RoundFigures {
    var rate: Double
    var seconds: Double
    var p50: Double
    var p99: Double
    var max: Double
    /// Why what the peer holds afterwards is not what was sent; nil when it is.
    var problem: String?

    init(_ results: [ClientResult], events: Int) {
        let first = results.map(\.startNs).min() ?? 0, last = results.map(\.endNs).max() ?? 0
        seconds = Double(last &- first) / 1e9
        rate = Double(events) / seconds
        let latencies = Latencies(results.flatMap(\.latencies))
        p50 = latencies.percentile(0.50)
        p99 = latencies.percentile(0.99)
        max = latencies.percentile(1.0)
    }

    /// The medians over `rounds`, in the fields serve-ingest and redis-baseline share.
    static func report(_ rounds: [RoundFigures], into r: inout Report) {
        r.add("seconds", median(rounds.map(\.seconds)))
        r.add("events_per_s", median(rounds.map(\.rate)))
        r.add("ack_p50_ns", median(rounds.map(\.p50)))
        r.add("ack_p99_ns", median(rounds.map(\.p99)))
        r.add("ack_max_ns", median(rounds.map(\.max)))
        r.add("verified", rounds.allSatisfy { $0.problem == nil })
        if let problem = rounds.compactMap(\.problem).first { r.add("verifyProblem", problem) }
    }
}

/// One client's lines, built before the clock starts.
struct ClientInput: Sendable {
    var bytes: [UInt8] = []
    /// Where each line ends (the offset just past its line feed).
    var lineEnds: [Int] = []
    var invocations: [UInt64] = []
    var streams: [StreamName] = []

    /// The streams of `client`: disjoint between clients.
    static func streams(client: Int, count: Int) -> [StreamName] {
        let clis = ["claude", "codex", "gemini", "aider"]
        return (0..<count).map { k in
            // Names of ASCII letters, digits and dashes, well under the limit: valid.
            try! StreamName(agent: "agent-\(client)-\(k / clis.count)", cli: clis[k % clis.count])
        }
    }

    init() {}

    init(client: Int, events: Int, streams count: Int) {
        streams = Self.streams(client: client, count: count)
        bytes.reserveCapacity(events * 190)
        let base = Int64(1_795_000_000) * 1_000_000_000
        for i in 0..<events {
            let invocation = UInt64(client) << 40 | UInt64(i)
            invocations.append(invocation)
            let stream = streams[i % count]
            let time = Timestamp.iso8601(unixNanoseconds: base + Int64(i) * 1000, precision: .microseconds)
            let hex = String(invocation, radix: 16)
            let line = "{\"time\":\"\(time)\",\"kind\":\"measure\",\"agent\":\"\(stream.agent)\",\"cli\":\"\(stream.cli)\",\"invocation\":\"\(hex)\",\"durationMs\":\(800 + i % 500).413,\"outcome\":\"ok\",\"pid\":\(4000 + client)}\n"
            bytes.append(contentsOf: line.utf8)
            lineEnds.append(bytes.count)
        }
    }
}

struct ClientResult: Sendable {
    var startNs: UInt64 = 0
    var endNs: UInt64 = 0
    var acked = 0
    var errors = 0
    /// (latency in ns, events it applies to)
    var latencies: [(UInt64, Int)] = []
    var failure: String?
}

/// Where a bench client connects: perflog's Unix socket, or a peer's loopback port.
enum Endpoint: Sendable {
    case unix(String)
    case tcp(port: UInt16)

    /// A connected stream socket, or a description of why there is none.
    func connect() -> Result<Int32, BenchError> {
        switch self {
        case .unix(let path):
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { return .failure(BenchError("socket: \(LMDBError.Code.current)")) }
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { raw in
                let b = Array(path.utf8)
                raw.copyBytes(from: b)
                raw[b.count] = 0
            }
            let rc = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            guard rc == 0 else { close(fd); return .failure(BenchError("connect: \(LMDBError.Code.current)")) }
            return .success(fd)
        case .tcp(let port):
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { return .failure(BenchError("socket: \(LMDBError.Code.current)")) }
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
            let rc = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard rc == 0 else { close(fd); return .failure(BenchError("connect: \(LMDBError.Code.current)")) }
            return .success(fd)
        }
    }
}

/// Counts the replies a client reads: each advances `acked`, error replies count in `errors`.
protocol ReplyReader: SendableMetatype {
    init()
    /// Who is at the other end, for the failure when it closes the connection.
    static var peer: String { get }
    /// Where replies are received.
    var buffer: [UInt8] { get set }
    /// Takes the first `count` bytes of `buffer`, just received.
    mutating func take(_ count: Int, into result: inout ClientResult)
}

extension ReplyReader {
    /// Reads what has arrived (or waits for some, with `wait`); false after a failure,
    /// which `result.failure` describes.
    mutating func read(_ fd: Int32, wait: Bool, into result: inout ClientResult) -> Bool {
        while true {
            let n = buffer.withUnsafeMutableBytes { b in
                POSIXIO.retryingInterrupts { recv(fd, b.baseAddress, b.count, wait ? 0 : Int32(MSG_DONTWAIT)) }
            }
            if n < 0 {
                if errno == EAGAIN || errno == EWOULDBLOCK { return true }
                result.failure = "read: \(LMDBError.Code.current)"
                return false
            }
            if n == 0 { result.failure = "\(Self.peer) closed the connection"; return false }
            take(n, into: &result)
            if wait || n < buffer.count { return true }
        }
    }
}

/// A socket client: writes chunks while under its window, reads acknowledgements.
struct Client<Reader: ReplyReader> {
    let input: ClientInput
    let endpoint: Endpoint
    let chunk: Int
    let window: Int

    func run(start: StartLine) -> ClientResult {
        var result = ClientResult()
        let fd: Int32
        switch endpoint.connect() {
        case .success(let connected): fd = connected
        case .failure(let error): result.failure = error.description; start.arrive(); return result
        }
        defer { close(fd) }
        start.arrive()

        let total = input.lineEnds.count
        var sent = 0
        var pending: [(end: Int, at: UInt64)] = []
        var pendingHead = 0
        var reader = Reader()
        result.startNs = monotonicNs()
        while result.acked < total {
            while sent < total && sent - result.acked < window {
                let end = min(total, sent + chunk)
                let from = sent == 0 ? 0 : input.lineEnds[sent - 1]
                let to = input.lineEnds[end - 1]
                let ok = input.bytes.withUnsafeBytes { b in writeAll(fd, UnsafeRawBufferPointer(rebasing: b[from..<to])) }
                guard ok else { result.failure = "write: \(LMDBError.Code.current)"; return result }
                pending.append((end, monotonicNs()))
                sent = end
                // Take whatever acknowledgements have arrived, without waiting.
                if !reader.read(fd, wait: false, into: &result) { return result }
                settle(&pending, &pendingHead, &result)
            }
            if result.acked < total {
                if !reader.read(fd, wait: true, into: &result) { return result }
                settle(&pending, &pendingHead, &result)
            }
        }
        result.endNs = monotonicNs()
        return result
    }

    private func settle(_ pending: inout [(end: Int, at: UInt64)], _ head: inout Int, _ result: inout ClientResult) {
        let now = monotonicNs()
        var previous = head == 0 ? 0 : pending[head - 1].end
        while head < pending.count && pending[head].end <= result.acked {
            result.latencies.append((now - pending[head].at, pending[head].end - previous))
            previous = pending[head].end
            head += 1
        }
    }

    private func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
        POSIXIO.writeAll(fd, bytes) == nil
    }
}

/// Reads reply lines: `{"ack":N}` advances the count; anything else is an error reply.
struct AckReader: ReplyReader {
    static var peer: String { "the service" }
    var buffer = [UInt8](repeating: 0, count: 1 << 16)
    var partial: [UInt8] = []

    init() {}

    mutating func take(_ count: Int, into result: inout ClientResult) {
        for byte in buffer[..<count] {
            if byte != 0x0A { partial.append(byte); continue }
            let line = String(decoding: partial, as: UTF8.self)
            partial.removeAll(keepingCapacity: true)
            if line.hasPrefix("{\"ack\":"), let v = Int(line.dropFirst(7).dropLast()) {
                result.acked = max(result.acked, v)
            } else {
                result.errors += 1
            }
        }
    }
}

/// Per-event latencies: (nanoseconds, events) pairs.
struct Latencies {
    let sorted: [(UInt64, Int)]
    let total: Int

    init(_ pairs: [(UInt64, Int)]) {
        sorted = pairs.sorted { $0.0 < $1.0 }
        total = pairs.reduce(0) { $0 + $1.1 }
    }

    func percentile(_ q: Double) -> Double {
        guard total > 0 else { return .nan }
        let rank = max(1, Int((q * Double(total)).rounded(.up)))
        var seen = 0
        for (ns, count) in sorted {
            seen += count
            if seen >= rank { return Double(ns) }
        }
        return Double(sorted.last?.0 ?? 0)
    }
}

/// Lets the clients start together, once all are connected.
final class StartLine: @unchecked Sendable {
    // Why @unchecked Sendable is safe: `count` is only touched under `mutex`.
    private var mutex = pthread_mutex_t()
    private var cond = pthread_cond_t()
    private var count: Int

    init(parties: Int) {
        count = parties
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&cond, nil)
    }

    func arrive() {
        pthread_mutex_lock(&mutex)
        count -= 1
        if count == 0 { pthread_cond_broadcast(&cond) }
        while count > 0 { pthread_cond_wait(&cond, &mutex) }
        pthread_mutex_unlock(&mutex)
    }
}

/// A POSIX thread that runs a client and hands back its result.
final class BenchThread: @unchecked Sendable {
    typealias R = ClientResult
    // Why @unchecked Sendable is safe: `result` is written by the thread before it ends
    // and read only after `pthread_join` returns.
    private var thread = pthread_t()
    private var result: R?
    private let body: @Sendable () -> R

    private init(body: @escaping @Sendable () -> R) { self.body = body }

    /// Starts a thread running `body`.
    static func start(_ body: @escaping @Sendable () -> R) -> BenchThread {
        let t = BenchThread(body: body)
        t.launch()
        return t
    }

    private func launch() {
        let me = Unmanaged.passRetained(self).toOpaque()
        pthread_create(&thread, nil, { raw in
            guard let raw else { return nil }
            let me = Unmanaged<BenchThread>.fromOpaque(raw).takeRetainedValue()
            me.result = me.body()
            return nil
        }, me)
    }

    func join() -> R {
        pthread_join(thread, nil)
        return result!
    }
}

/// `perflog serve` as a child process: started, waited on until it says where it
/// listens (its first line of JSON on standard output), stopped with SIGTERM.
struct ServerProcess {
    let pid: pid_t
    /// The service's standard output, read to its end when it stops: closed early, the
    /// service's last line would fail with EPIPE and it would exit 141.
    let output: Int32
    /// What the service printed first: where it listens, as JSON.
    let startup: String

    init(argv: [String]) throws {
        let (pid, fd) = try spawnReadingOutput(argv)
        self.pid = pid
        // The first line on standard output says the service is listening.
        var byte: UInt8 = 0
        var line: [UInt8] = []
        while read(fd, &byte, 1) == 1 && byte != 0x0A { line.append(byte) }
        output = fd
        startup = String(decoding: line, as: UTF8.self)
        guard line.first == UInt8(ascii: "{") else {
            close(fd)
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            throw BenchError("perflog serve did not start")
        }
    }

    /// Sends SIGTERM and waits; returns the exit status (-1 when it did not exit normally).
    func stop() -> Int32 {
        kill(pid, SIGTERM)
        _ = POSIXIO.readAll(output, chunkBytes: 4096, limit: 1 << 20)
        close(output)
        var status: Int32 = 0
        _ = POSIXIO.retryingInterrupts { waitpid(pid, &status, 0) }
        return (status & 0x7f) == 0 ? (status >> 8) & 0xff : -1
    }
}
