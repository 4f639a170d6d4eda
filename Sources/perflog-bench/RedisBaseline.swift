import ArgumentParser
import LMDB
import PerfLog
#if canImport(Glibc)
import Glibc
#endif

/// `redis-baseline`: what a user might pick instead of `perflog serve`, driven the way
/// serve-ingest drives perflog.
struct RedisBaseline: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "redis-baseline",
        abstract: "Events per second and ack latency of Redis streams (XADD … MAXLEN 100) from the clients serve-ingest uses.",
        discussion: """
            Starts its own redis-server (from PATH) on a free loopback port with AOF and \
            appendfsync everysec, no RDB snapshots, then connects --clients clients at once; \
            each sends --events `XADD s:AGENT/CLI MAXLEN 100 * time … invocation … \
            durationMs … outcome ok pid …` commands (the fields of serve-ingest's lines; \
            MAXLEN 100 is an exact trim, like perflog's ring), over the same streams, in \
            writes of --chunk commands with at most --window unanswered. The fields printed \
            are serve-ingest's. Afterwards every stream must hold the newest 100 of what was \
            sent to it (XLEN), with no error reply.
            """)

    /// The trim of every stream: perflog's default ring.
    static let maxLength = 100

    @Option(help: "Concurrent clients.") var clients = 16
    @Option(help: "Commands each client sends.") var events = 100_000
    @Option(help: "Commands per write.") var chunk = 256
    @Option(help: "Unanswered commands a client allows before it waits.") var window = 1_024
    @Option(help: "Streams each client writes to (disjoint between clients).") var streamsPerClient = 64
    @OptionGroup var common: CommonOptions

    func run() throws {
        let inputs = (0..<clients).map {
            ClientInput(redisClient: $0, events: events, streams: streamsPerClient, maxLength: Self.maxLength)
        }
        var rounds: [RoundFigures] = []
        for _ in 0..<common.repeat {
            rounds.append(try Self.round(inputs, events: events, chunk: chunk, window: window))
        }
        var r = Report()
        r.add("case", "redis-baseline")
        r.add("clients", clients)
        r.add("events", clients * events)
        r.add("window", window)
        r.add("durability", "appendfsync everysec")
        RoundFigures.report(rounds, into: &r)
        print(r.line)
    }

    /// One round against a new redis-server: started, driven, checked, stopped.
    /// - Throws: when redis-server is missing or does not start, or a client fails.
    static func round(_ inputs: [ClientInput], events: Int, chunk: Int, window: Int) throws -> RoundFigures {
        let dir = makeTemporaryDirectory("redis")
        defer { removeTree(dir) }
        let server = try RedisServer(directory: dir)
        defer { server.stop() }
        let results = try runClients(inputs, endpoint: .tcp(port: server.port), chunk: chunk, window: window,
                                     reader: RESPReader.self)
        var figures = RoundFigures(results, events: inputs.count * events)
        let clean = results.allSatisfy { $0.acked == events && $0.errors == 0 }
        figures.problem = clean ? try verify(inputs, events: events, port: server.port) : "a client saw error replies or missing ones"
        return figures
    }

    /// Why the streams do not hold what was sent (XLEN of each); nil when they do.
    static func verify(_ inputs: [ClientInput], events: Int, port: UInt16) throws -> String? {
        let fd: Int32
        switch Endpoint.tcp(port: port).connect() {
        case .success(let connected): fd = connected
        case .failure(let error): throw error
        }
        defer { close(fd) }
        var expected: [(key: String, length: Int)] = []
        var request: [UInt8] = []
        for input in inputs {
            for (s, stream) in input.streams.enumerated() {
                let sent = (events - s + input.streams.count - 1) / input.streams.count
                let key = ClientInput.redisKey(stream)
                expected.append((key, min(sent, maxLength)))
                RESP.command(["XLEN", key], into: &request)
            }
        }
        guard request.withUnsafeBytes({ POSIXIO.writeAll(fd, $0) }) == nil else { throw BenchError("write: \(LMDBError.Code.current)") }
        var reader = RESPReader()
        reader.keepsIntegers = true
        var result = ClientResult()
        while result.acked < expected.count {
            guard reader.read(fd, wait: true, into: &result) else { throw BenchError(result.failure ?? "read failed") }
        }
        for (i, e) in expected.enumerated() where reader.integers[i] != e.length {
            return "\(e.key) holds \(reader.integers[i]) entries, not \(e.length)"
        }
        return nil
    }
}

/// A redis-server of the bench's own: on a free loopback port, data in `directory`.
struct RedisServer {
    let pid: pid_t
    let port: UInt16
    /// Its log (standard output), read to its end when it stops.
    let output: Int32

    init(directory: String) throws {
        port = try Self.freePort()
        let argv = ["redis-server", "--port", String(port), "--bind", "127.0.0.1", "--dir", directory,
                    "--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--daemonize", "no",
                    "--protected-mode", "no", "--logfile", ""]
        let started: (pid: pid_t, output: Int32)
        do {
            started = try spawnReadingOutput(argv, searchPath: true)
        } catch {
            throw BenchError("redis-server is not on PATH (tools/setup --bench installs it)")
        }
        pid = started.pid
        output = started.output
        // Its log says when it accepts connections; an end of the log first means it exited.
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while true {
            guard POSIXIO.retryingInterrupts({ read(output, &byte, 1) }) == 1 else {
                stop()
                throw BenchError("redis-server exited before accepting connections: \(String(decoding: line, as: UTF8.self))")
            }
            if byte != 0x0A { line.append(byte); continue }
            if String(decoding: line, as: UTF8.self).contains("Ready to accept connections") { break }
            line.removeAll(keepingCapacity: true)
        }
    }

    /// Stops the server (SIGTERM: it flushes its AOF and exits) and waits for it.
    func stop() {
        kill(pid, SIGTERM)
        _ = POSIXIO.readAll(output, chunkBytes: 4096, limit: 1 << 20)
        close(output)
        var status: Int32 = 0
        _ = POSIXIO.retryingInterrupts { waitpid(pid, &status, 0) }
    }

    /// A loopback port nothing listens on now (the kernel's pick for port 0).
    private static func freePort() throws -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw BenchError("socket: \(LMDBError.Code.current)") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard ok else { throw BenchError("cannot find a free loopback port: \(LMDBError.Code.current)") }
        return UInt16(bigEndian: address.sin_port)
    }
}

/// Redis's protocol, as far as the bench speaks it.
enum RESP {
    /// Appends `arguments` as one command (an array of bulk strings).
    static func command(_ arguments: [String], into bytes: inout [UInt8]) {
        bytes.append(contentsOf: "*\(arguments.count)\r\n".utf8)
        for a in arguments {
            bytes.append(contentsOf: "$\(a.utf8.count)\r\n".utf8)
            bytes.append(contentsOf: a.utf8)
            bytes.append(contentsOf: "\r\n".utf8)
        }
    }
}

extension ClientInput {
    /// A stream's Redis key.
    static func redisKey(_ stream: StreamName) -> String { "s:\(stream.agent)/\(stream.cli)" }

    /// The events of `init(client:events:streams:)` as XADD commands: the same streams
    /// and invocations, the line's fields as the entry's.
    init(redisClient client: Int, events: Int, streams count: Int, maxLength: Int) {
        self.init()
        streams = Self.streams(client: client, count: count)
        let keys = streams.map(Self.redisKey)
        bytes.reserveCapacity(events * 200)
        let base = Int64(1_795_000_000) * 1_000_000_000
        for i in 0..<events {
            let invocation = UInt64(client) << 40 | UInt64(i)
            invocations.append(invocation)
            let time = Timestamp.iso8601(unixNanoseconds: base + Int64(i) * 1000, precision: .microseconds)
            RESP.command(["XADD", keys[i % count], "MAXLEN", String(maxLength), "*",
                          "time", time, "invocation", String(invocation, radix: 16),
                          "durationMs", "\(800 + i % 500).413", "outcome", "ok", "pid", String(4000 + client)],
                         into: &bytes)
            lineEnds.append(bytes.count)
        }
    }
}

/// Counts Redis replies: simple strings, integers, bulk strings; `-` replies are errors.
struct RESPReader: ReplyReader {
    static var peer: String { "redis-server" }
    var buffer = [UInt8](repeating: 0, count: 1 << 16)
    /// The current reply's first line, without its CR LF.
    var header: [UInt8] = []
    /// Bytes of a bulk string (with its CR LF) still to pass over.
    var skip = 0
    /// Whether to keep integer replies (in `integers`, in order).
    var keepsIntegers = false
    var integers: [Int] = []

    init() {}

    mutating func take(_ count: Int, into result: inout ClientResult) {
        var i = 0
        while i < count {
            if skip > 0 {
                let k = min(skip, count - i)
                skip -= k
                i += k
                if skip == 0 { result.acked += 1 }
                continue
            }
            let byte = buffer[i]
            i += 1
            if byte != 0x0A { header.append(byte); continue }
            if header.last == 0x0D { header.removeLast() }
            let value = String(decoding: header.dropFirst(), as: UTF8.self)
            switch header.first {
            case UInt8(ascii: "$"):
                let length = Int(value) ?? -1
                if length < 0 { result.acked += 1 } else { skip = length + 2 }
            case UInt8(ascii: "-"):
                result.errors += 1
                result.acked += 1
            case UInt8(ascii: ":"):
                if keepsIntegers { integers.append(Int(value) ?? -1) }
                result.acked += 1
            default:
                result.acked += 1
            }
            header.removeAll(keepingCapacity: true)
        }
    }
}
