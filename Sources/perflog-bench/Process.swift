import ArgumentParser
import LMDB
import PerfLog
#if canImport(Glibc)
import Glibc
#endif

/// Runs `argv` as a new process (`posix_spawn`, output to /dev/null) and returns its
/// wall time in milliseconds and its exit status.
func timeProcess(_ argv: [String], environment: [String] = []) throws -> (ms: Double, status: Int32) {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    var cArgs = argv.map { strdup($0) } + [nil]
    var cEnv = (environment + ["PATH=/usr/bin:/bin"]).map { strdup($0) } + [nil]
    defer {
        for p in cArgs { free(p) }
        for p in cEnv { free(p) }
    }
    var pid: pid_t = 0
    let start = monotonicNs()
    let rc = posix_spawn(&pid, argv[0], &actions, nil, &cArgs, &cEnv)
    guard rc == 0 else { throw ValidationError("cannot run \(argv[0]): \(LMDBError.Code(rawValue: rc))") }
    var status: Int32 = 0
    _ = POSIXIO.retryingInterrupts { waitpid(pid, &status, 0) }
    return (Double(monotonicNs() - start) / 1e6, status)
}

/// Starts `argv` (found on PATH when `searchPath`) with its standard output on a pipe.
/// - Returns: its pid and the pipe's read end, which the caller closes.
func spawnReadingOutput(_ argv: [String], searchPath: Bool = false) throws -> (pid: pid_t, output: Int32) {
    var fds: [Int32] = [0, 0]
    guard pipe(&fds) == 0 else { throw BenchError("pipe failed") }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
    posix_spawn_file_actions_addclose(&actions, fds[0])
    var cArgs = argv.map { strdup($0) } + [nil]
    defer { for p in cArgs { free(p) } }
    var pid: pid_t = 0
    let rc = searchPath ? posix_spawnp(&pid, argv[0], &actions, nil, &cArgs, environ)
        : posix_spawn(&pid, argv[0], &actions, nil, &cArgs, environ)
    close(fds[1])
    guard rc == 0 else { close(fds[0]); throw BenchError("cannot run \(argv[0]): \(LMDBError.Code(rawValue: rc))") }
    return (pid, fds[0])
}

/// The `perflog` binary built beside this benchmark.
func perflogBinary() throws -> String {
    var buffer = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    guard n > 0 else { throw ValidationError("cannot find this program's path") }
    let me = String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    guard let slash = me.lastIndex(of: "/") else { throw ValidationError("cannot find perflog beside \(me)") }
    let path = String(me[..<slash]) + "/perflog"
    guard access(path, X_OK) == 0 else { throw ValidationError("\(path) is missing: build the perflog product first") }
    return path
}

struct OneShot: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "one-shot",
        abstract: "Wall milliseconds of `perflog record` as a new process, into an existing log.",
        discussion: """
            With --vs-c, each process is paired with a run of the C floor (the c-one-shot \
            case's program: open, append one event to a ring, commit, exit), interleaved, \
            and the report adds c_median_ms and vs_c (perflog's median over the C one's).
            """)

    @Option(help: "Processes to time.") var runs = 200
    @Flag(help: "Interleave the C floor and report vs_c.") var vsC = false
    @Option(help: ArgumentHelp("The perflog to time, e.g. an installed one (default: the one built beside this benchmark).", valueName: "path"))
    var perflog: String?
    @OptionGroup var common: CommonOptions

    func run() throws {
        let perflog = try self.perflog ?? perflogBinary()
        let dir = makeTemporaryDirectory("one-shot")
        defer { removeTree(dir) }
        let argv = [perflog, "record", "--log", dir + "/log", "--agent", "planner", "--cli", "claude", "--duration", "812.4ms"]
        _ = try timeProcess(argv)  // creates the log: the case times recording, not creation
        let floor = vsC ? [try COneShot.program(in: dir), dir + "/c-log"] : []
        if vsC { _ = try timeProcess(floor) }
        var medians: [Double] = [], cMedians: [Double] = []
        var verified = true
        for _ in 0..<common.repeat {
            var times: [Double] = [], cTimes: [Double] = []
            for _ in 0..<runs {
                let (ms, status) = try timeProcess(argv)
                verified = verified && status == 0
                times.append(ms)
                if vsC {
                    let (cms, cstatus) = try timeProcess(floor)
                    verified = verified && cstatus == 0
                    cTimes.append(cms)
                }
            }
            medians.append(median(times))
            if vsC { cMedians.append(median(cTimes)) }
        }
        let log = try EventLog(path: dir + "/log", options: { var o = EventLog.Options(); o.create = false; return o }())
        let appended = try log.read { try $0.summary(try StreamName(agent: "planner", cli: "claude"))?.appended }
        verified = verified && appended == UInt64(1 + runs * common.repeat)
        var r = Report()
        r.add("case", "one-shot")
        if self.perflog != nil { r.add("perflog", perflog) }
        r.add("events", runs * common.repeat)
        r.add("median_ms", median(medians))
        if vsC {
            r.add("c_median_ms", median(cMedians))
            r.add("vs_c", median(medians) / median(cMedians))
        }
        r.add("verified", verified)
        print(r.line)
    }
}

/// `c-one-shot`: the C floor under `perflog record`, timed as `one-shot` times perflog.
struct COneShot: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "c-one-shot",
        abstract: "Wall milliseconds of a plain C program on liblmdb that appends one event to a ring and commits, as a new process.",
        discussion: """
            The program (c-one-shot.c beside this benchmark's sources, compiled with cc \
            -O2 against liblmdb when the case starts) opens an environment, appends one \
            event to a stream's ring of 100 with MDB_NOMETASYNC and exits: what `perflog \
            record` does, with no argument handling, no validation and no runtime start.
            """)

    @Option(help: "Processes to time.") var runs = 200
    @OptionGroup var common: CommonOptions

    /// Compiles the C program into `dir`; returns its path.
    /// - Throws: when cc or liblmdb's development files are missing.
    static func program(in dir: String) throws -> String {
        var source = String(#filePath)
        if let slash = source.lastIndex(of: "/") { source = String(source[...slash]) + "c-one-shot.c" }
        guard access(source, R_OK) == 0 else { throw BenchError("\(source) is missing (c-one-shot runs from a checkout)") }
        let out = dir + "/c-one-shot"
        let script = "exec cc -O2 $(pkg-config --cflags lmdb) -o \"$1\" \"$2\" $(pkg-config --libs lmdb)"
        let (_, status) = try timeProcess(["/bin/sh", "-c", script, "sh", out, source])
        guard status == 0, access(out, X_OK) == 0 else { throw BenchError("cannot compile \(source) with cc (tools/setup installs liblmdb-dev)") }
        return out
    }

    func run() throws {
        let dir = makeTemporaryDirectory("c-one-shot")
        defer { removeTree(dir) }
        let argv = [try Self.program(in: dir), dir + "/log"]
        _ = try timeProcess(argv)
        var medians: [Double] = []
        var verified = true
        for _ in 0..<common.repeat {
            var times: [Double] = []
            for _ in 0..<runs {
                let (ms, status) = try timeProcess(argv)
                verified = verified && status == 0
                times.append(ms)
            }
            medians.append(median(times))
        }
        var r = Report()
        r.add("case", "c-one-shot")
        r.add("events", runs * common.repeat)
        r.add("median_ms", median(medians))
        r.add("verified", verified)
        print(r.line)
    }
}

struct ExecOverhead: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exec-overhead",
        abstract: "Milliseconds `perflog exec -- true` adds to running `true` directly (medians, interleaved).")

    @Option(help: "Pairs of processes to time.") var runs = 200
    @OptionGroup var common: CommonOptions

    func run() throws {
        let perflog = try perflogBinary()
        let dir = makeTemporaryDirectory("exec")
        defer { removeTree(dir) }
        let truePath = access("/usr/bin/true", X_OK) == 0 ? "/usr/bin/true" : "/bin/true"
        let exec = [perflog, "exec", "--log", dir + "/log", "--agent", "planner", "--cli", "claude", "--", truePath]
        _ = try timeProcess(exec)
        var overheads: [Double] = [], plain: [Double] = [], wrapped: [Double] = []
        var verified = true
        for _ in 0..<common.repeat {
            var a: [Double] = [], b: [Double] = []
            for _ in 0..<runs {
                let (ms, status) = try timeProcess(exec)
                verified = verified && status == 0
                a.append(ms)
                b.append(try timeProcess([truePath]).ms)
            }
            wrapped.append(median(a))
            plain.append(median(b))
            overheads.append(median(a) - median(b))
        }
        var r = Report()
        r.add("case", "exec-overhead")
        r.add("events", runs * common.repeat)
        r.add("median_ms", median(overheads))
        r.add("exec_median_ms", median(wrapped))
        r.add("true_median_ms", median(plain))
        r.add("verified", verified)
        print(r.line)
    }
}
