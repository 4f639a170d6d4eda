import ArgumentParser

/// The long names of the options and flags of `record` and `exec`. The ArgumentParser
/// declarations take their names from here, and so does ``FastPath``.
enum OptionName: String {
    case agent, cli, meta, log, wait, duration, failed, exitCode = "exit-code", signal, json
}

/// Reads the plain, well-formed command lines of `perflog record` and `perflog exec`
/// without ArgumentParser.
///
/// perflog is started once per measured invocation, so its start-up time is part of
/// every measurement. ArgumentParser builds its command tree by reflection and dynamic
/// casts, which costs a new process about as much as everything else it does. This
/// parser accepts only a narrow subset of command lines, and for every one of them
/// gives exactly the values ArgumentParser would; anything else (help, `--version`,
/// errors, `--name=value`, values that begin with a dash, repeated options, other
/// commands) returns `nil` and goes to ArgumentParser, so messages and exit statuses
/// stay its own. The accepted subset:
///
/// - the first argument is `record` or `exec`;
/// - then `--name value` pairs and bare `--flag`s of that command, each at most once
///   except `--meta`; a value is not empty and does not begin with `-`;
/// - every required option is present and the values pass ArgumentParser's own
///   conversions and the command's `validate()` rules;
/// - `exec` ends with `--` and a non-empty command; `record` has nothing else.
enum FastPath {
    /// A command line read by the fast path.
    enum Request: Equatable {
        case record(RecordRequest)
        case exec(ExecRequest)
    }

    /// What a command accepts.
    private struct Grammar {
        /// Options that take one value, at most once each (`--meta` is always allowed
        /// and repeatable).
        var options: [OptionName]
        /// Flags without a value, at most once each.
        var flags: [OptionName]
        /// Whether the line ends with `--` and a command.
        var takesCommand: Bool
    }

    private static let record = Grammar(options: [.agent, .cli, .duration, .exitCode, .signal, .log, .wait], flags: [.failed, .json], takesCommand: false)
    private static let exec = Grammar(options: [.agent, .cli, .log, .wait], flags: [], takesCommand: true)

    /// The request `arguments` (without the program name) make, or `nil` when
    /// ArgumentParser must read them.
    static func parse(_ arguments: [String]) -> Request? {
        guard let first = arguments.first else { return nil }
        let rest = arguments.dropFirst()
        /// `--log` and `--wait`, through the conversion ArgumentParser uses.
        func location(_ line: Line) -> LogLocation? {
            var location = LogLocation(log: line[.log])
            if let text = line[.wait] {
                guard let wait = try? WaitOption.parse(text) else { return nil }
                location.wait = wait
            }
            return location
        }
        switch first {
        case "record":
            guard let line = scan(rest, record),
                  let agent = line[.agent], let cli = line[.cli], let duration = line[.duration], let log = location(line)
            else { return nil }
            var exitCode: Int32?
            if let text = line[.exitCode] {
                // ArgumentParser's own conversion, so that what it accepts is identical.
                guard let code = Int32(argument: text) else { return nil }
                exitCode = code
            }
            let request = RecordRequest(
                stream: StreamArguments(agent: agent, cli: cli, meta: line.meta), duration: duration,
                failed: line.flags.contains(.failed), exitCode: exitCode, signal: line[.signal],
                json: line.flags.contains(.json),
                log: log)
            return request.contradiction == nil ? .record(request) : nil
        case "exec":
            guard let line = scan(rest, exec), let agent = line[.agent], let cli = line[.cli], let log = location(line)
            else { return nil }
            let request = ExecRequest(
                stream: StreamArguments(agent: agent, cli: cli, meta: line.meta), log: log, command: line.command)
            return request.missingCommand == nil ? .exec(request) : nil
        default:
            return nil
        }
    }

    /// The values of one command line, before conversion.
    private struct Line {
        /// The options given once, and their values, in the order given. Two lists
        /// rather than a dictionary: instantiating `Dictionary<OptionName, String>`
        /// makes the runtime look up `OptionName: Hashable` by scanning every
        /// conformance record in the binary, which costs more than this whole parser;
        /// and not one list of pairs, whose metadata the runtime would build from its
        /// mangled name.
        var names: [OptionName] = []
        var values: [String] = []
        var meta: [String] = []
        var flags: [OptionName] = []
        var command: [String] = []

        subscript(_ name: OptionName) -> String? {
            names.firstIndex(of: name).map { values[$0] }
        }
    }

    private static func scan(_ arguments: ArraySlice<String>, _ grammar: Grammar) -> Line? {
        var line = Line()
        var i = arguments.startIndex
        while i < arguments.endIndex {
            let token = arguments[i]
            if token == "--" {
                guard grammar.takesCommand else { return nil }
                line.command = Array(arguments[(i + 1)...])
                return line
            }
            guard token.hasPrefix("--"), let name = OptionName(rawValue: String(token.dropFirst(2))) else { return nil }
            if grammar.flags.contains(name) {
                guard !line.flags.contains(name) else { return nil }
                line.flags.append(name)
                i += 1
                continue
            }
            guard name == .meta || grammar.options.contains(name), i + 1 < arguments.endIndex else { return nil }
            let value = arguments[i + 1]
            guard let lead = value.utf8.first, lead != UInt8(ascii: "-") else { return nil }
            if name == .meta {
                line.meta.append(value)
            } else {
                guard line[name] == nil else { return nil }
                line.names.append(name)
                line.values.append(value)
            }
            i += 2
        }
        return grammar.takesCommand ? nil : line
    }
}
