import Foundation
import PerfLogTestSupport
import Testing

/// `tools/install` run as a newcomer would, with `--binary` set to the perflog these tests
/// drive (so it does not build a release one), into a temporary prefix; then what it
/// installed is used the way a shell and `man` use it.
// Serialized: each install runs `swift build --product generate-manual`, and SwiftPM lets
// one build at a time use the build directory.
@Suite("tools/install: the program, its man pages and completions under a prefix", .serialized)
struct InstallTests {
    /// The package's root, where `tools/` is.
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static let install = root + "/tools/install"
    /// The first run builds swift-argument-parser's generate-manual (a few seconds when the
    /// tests' build is there, longer from nothing); the bound is against a hang only.
    static let timeout: TimeInterval = 900

    /// Runs `tools/install arguments…` in `directory`, standard error merged into the output.
    static func run(_ arguments: [String], in directory: String? = nil) throws -> ProgramResult {
        try Program.run(install, arguments, in: directory, environment: CLI.environment(), mergingErrors: true, timeout: timeout)
    }

    /// Every regular file under `directory`, as absolute paths.
    static func files(under directory: String) -> Set<String> {
        guard let walker = FileManager.default.enumerator(atPath: directory) else { return [] }
        var found: Set<String> = []
        for case let relative as String in walker {
            var isDirectory: ObjCBool = false
            let path = directory + "/" + relative
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue { found.insert(path) }
        }
        return found
    }

    /// The paths a run printed after `word ` ("installed", "removed").
    static func paths(after word: String, in output: String) -> Set<String> {
        Set(output.split(separator: "\n").compactMap { line in
            line.hasPrefix(word + " /") ? String(line.dropFirst(word.count + 1)) : nil
        })
    }

    /// Runs `bash -c script` without any start-up file, in the environment the tests use.
    static func bash(_ script: String) throws -> ProgramResult {
        try Program.run("/bin/bash", ["--norc", "--noprofile", "-c", script], environment: CLI.environment())
    }

    @Test func installsWhatItSaysAndUninstallRemovesExactlyThat() throws {
        let dir = try TemporaryDirectory(prefix: "perflog-install")
        // A relative --prefix is the caller's: tools/install changes to the repository.
        let r = try Self.run(["--prefix", "root", "--binary", CLI.binary], in: dir.path)
        #expect(r.status == 0, "\(r)")
        let prefix = dir.file("root")
        let installed = Self.paths(after: "installed", in: r.stdout)
        #expect(installed == Self.files(under: prefix), "one line per file it wrote:\n\(r.stdout)")
        for expected in [
            "bin/perflog", "share/man/man1/perflog.1", "share/man/man1/perflog-record.1", "share/man/man1/perflog-serve.1",
            "share/bash-completion/completions/perflog", "share/zsh/site-functions/_perflog",
            "share/fish/vendor_completions.d/perflog.fish",
        ] {
            #expect(installed.contains(prefix + "/" + expected), "\(expected) missing:\n\(r.stdout)")
        }
        #expect(!installed.contains(prefix + "/share/man/man1/perflog-help.1"), "help has no page of its own")
        #expect(!r.stdout.contains("perflog.record.1"))
        #expect(r.stdout.contains("run it: \(prefix)/bin/perflog --help"), "\(r.stdout)")
        // The zsh and fish scripts are the program's own, for its command name (their
        // behaviour is swift-argument-parser's, and neither shell is installed here).
        let zsh = try String(contentsOfFile: prefix + "/share/zsh/site-functions/_perflog", encoding: .utf8)
        #expect(zsh.hasPrefix("#compdef perflog\n"))
        let fish = try String(contentsOfFile: prefix + "/share/fish/vendor_completions.d/perflog.fish", encoding: .utf8)
        #expect(fish.contains("complete -c 'perflog' -n") && fish.contains("'record'"), "\(fish.prefix(400))")
        #expect(r.stdout.contains("\(prefix)/bin is not on PATH"), "\(r.stdout)")

        // The installed program is the built one, executable by everyone.
        let program = prefix + "/bin/perflog"
        let mode = try FileManager.default.attributesOfItem(atPath: program)[.posixPermissions] as? Int
        #expect(mode == 0o755)
        #expect(FileManager.default.contents(atPath: program) == FileManager.default.contents(atPath: CLI.binary))
        let version = try Program.run(program, ["--version"])
        let builtVersion = try CLI.run(["--version"])
        #expect(version.status == 0 && builtVersion.status == 0, "\(version)")
        #expect(version.stdout.wholeMatch(of: /\d+\.\d+\.\d+\n/) != nil, "\(version)")
        #expect(version.stdout == builtVersion.stdout)
        #expect(r.stdout.contains("perflog \(version.stdout.trimmingCharacters(in: .newlines)) is installed under \(prefix)"))

        // Uninstall names every file it removes and leaves none behind; again, it has nothing to do.
        let u = try Self.run(["--uninstall", "--prefix", prefix])
        #expect(u.status == 0, "\(u)")
        #expect(Self.paths(after: "removed", in: u.stdout) == installed, "\(u.stdout)")
        #expect(Self.files(under: prefix).isEmpty)
        let again = try Self.run(["--uninstall", "--prefix", prefix])
        #expect(again.status == 0, "\(again)")
        #expect(Self.paths(after: "removed", in: again.stdout).isEmpty)
        #expect(again.stdout.contains("nothing of perflog's was installed under \(prefix)"), "\(again)")
    }

    @Test func manPagesRenderWithoutWarnings() throws {
        let dir = try TemporaryDirectory(prefix: "perflog-install")
        let r = try Self.run(["--prefix", dir.path, "--binary", CLI.binary])
        #expect(r.status == 0, "\(r)")
        let man = try #require(["/usr/bin/man", "/bin/man"].first { FileManager.default.isExecutableFile(atPath: $0) },
                               "man is not installed: run tools/setup")
        func render(_ page: String) throws -> ProgramResult {
            try Program.run(man, ["-l", dir.path + "/share/man/man1/" + page],
                            environment: CLI.environment(adding: ["MANPAGER": "cat", "PAGER": "cat", "MANWIDTH": "100"]))
        }
        let main = try render("perflog.1")
        #expect(main.status == 0, "\(main)")
        // groff's mdoc package warns on standard error about each blank line a page has.
        #expect(main.stderr.isEmpty, "\(main.stderr)")
        let headings = Set(main.stdoutLines.filter { $0.first?.isUppercase == true }.map { $0.trimmingCharacters(in: .whitespaces) })
        for heading in ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "SUBCOMMANDS", "EXIT STATUS", "SEE ALSO"] {
            #expect(headings.contains(heading), "no \(heading) in:\n\(main.stdout)")
        }
        #expect(main.stdout.contains("     record  Record one finished invocation"), "\(main.stdout)")
        #expect(main.stdout.contains("perflog-record(1)"))
        #expect(!main.stdout.contains("perflog-help"))

        let record = try render("perflog-record.1")
        #expect(record.status == 0, "\(record)")
        #expect(record.stderr.isEmpty, "\(record.stderr)")
        #expect(record.stdout.hasPrefix("PERFLOG-RECORD(1)"), "\(record.stdout)")
        #expect(record.stdout.contains("--duration duration"), "\(record.stdout)")
        #expect(record.stdout.contains("perflog(1)"))
    }

    @Test func bashCompletionLoadsAndCompletesSubcommandsAndFlags() throws {
        let dir = try TemporaryDirectory(prefix: "perflog-install")
        let r = try Self.run(["--prefix", dir.path, "--binary", CLI.binary])
        #expect(r.status == 0, "\(r)")
        let script = dir.path + "/share/bash-completion/completions/perflog"

        let loaded = try Self.bash("source '\(script)' && complete -p perflog")
        #expect(loaded.status == 0, "\(loaded)")
        let function = try #require(loaded.stdout.firstMatch(of: /-F (\S+) perflog\n/)?.1, "\(loaded)")

        // What bash does on TAB after `perflog re` and after `perflog record --du`: it sets
        // COMP_* and calls the function with the command, the word and the one before it.
        func complete(_ words: [String]) throws -> [String] {
            let line = words.joined(separator: " ")
            let quoted = words.map { "'\($0)'" }.joined(separator: " ")
            let c = try Self.bash("""
                source '\(script)' || exit 1
                PATH='\(dir.path)/bin':"$PATH"
                COMP_WORDS=(\(quoted)); COMP_CWORD=\(words.count - 1); COMP_LINE='\(line)'; COMP_POINT=\(line.utf8.count)
                \(function) perflog '\(words[words.count - 1])' '\(words[words.count - 2])'
                printf '%s\\n' "${COMPREPLY[@]}"
                """)
            #expect(c.status == 0, "\(c)")
            return c.stdoutLines
        }
        #expect(Set(try complete(["perflog", "re"])) == ["record", "report", "recover", "rename"])
        #expect(try complete(["perflog", "record", "--du"]) == ["--duration"])
    }

    @Test func badUsageExits64AndFailuresExit1WithOneLine() throws {
        let dir = try TemporaryDirectory(prefix: "perflog-install")
        let unknown = try Self.run(["--prefix", dir.path, "--frobnicate"])
        #expect(unknown.status == 64, "\(unknown)")
        #expect(unknown.stdoutLines == ["tools/install: unknown argument: --frobnicate (see tools/install --help)"])
        let noValue = try Self.run(["--prefix"])
        #expect(noValue.status == 64, "\(noValue)")
        #expect(noValue.stdoutLines.count == 1)
        let both = try Self.run(["--uninstall", "--binary", CLI.binary, "--prefix", dir.path])
        #expect(both.status == 64, "\(both)")

        let missing = try Self.run(["--prefix", dir.path, "--binary", dir.file("nothing-here")])
        #expect(missing.status == 1, "\(missing)")
        #expect(missing.stdoutLines == ["tools/install: --binary \(dir.file("nothing-here")): no such executable file"])
        let notPerflog = try Self.run(["--prefix", dir.path, "--binary", "/bin/true"])
        #expect(notPerflog.status == 1, "\(notPerflog)")
        #expect(notPerflog.stdoutLines.count == 1 && notPerflog.stdout.contains("not perflog"), "\(notPerflog)")
        #expect(Self.files(under: dir.path).isEmpty, "a refused install writes nothing")

        let help = try Self.run(["--help"])
        #expect(help.status == 0)
        #expect(help.stdout.contains("tools/install --uninstall [--prefix DIR]"))
        #expect(help.stdout.contains("Exit status: 0 done; 1 failure"))
    }
}
