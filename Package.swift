// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "perflog",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "PerfLog", targets: ["PerfLog"]),
        .library(name: "LMDB", targets: ["LMDB"]),
        .library(name: "PerfLogMetrics", targets: ["PerfLogMetrics"]),
        .executable(name: "perflog", targets: ["PerfLogCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CLMDB",
            pkgConfig: "lmdb",
            providers: [.apt(["liblmdb-dev"]), .brew(["lmdb"])]
        ),
        // The fault guard: turns a fault inside liblmdb (a damaged file) into a reported
        // failure; plain C, as it runs in a signal handler.
        .target(name: "CFaultGuard", dependencies: ["CLMDB"]),
        .target(name: "LMDB", dependencies: ["CLMDB", "CFaultGuard"]),
        // Starts `perflog exec`'s command so that it cannot outlive perflog
        // (PR_SET_PDEATHSIG): code that must run in the child between fork and exec, so C.
        .target(name: "CSpawn"),
        .target(
            name: "PerfLog",
            dependencies: ["LMDB", .product(name: "Logging", package: "swift-log")]
        ),
        // A swift-metrics backend: timers that name an agent and a CLI become measures.
        .target(
            name: "PerfLogMetrics",
            dependencies: ["PerfLog", .product(name: "CoreMetrics", package: "swift-metrics")]
        ),
        // The ingest service (`perflog serve`): NDJSON over a Unix socket and HTTP, on
        // SwiftNIO, committing through a Recorder.
        .target(
            name: "PerfLogService",
            dependencies: [
                "PerfLog", "LMDB",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "PerfLogCLI",
            dependencies: [
                "LMDB", "PerfLog", "PerfLogService", "CSpawn",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            exclude: ["exports.map"],
            // perflog starts once per measured invocation. Linked position-dependent, it
            // skips the ~40,000 relative relocations (and the page copies they cause) that
            // the loader applies to a PIE at every start: about 0.25 ms of a 2.5 ms
            // `perflog record`. The price is ASLR for the executable's own image. The
            // version script keeps the program's symbols out of the dynamic symbol table
            // (see exports.map): about 0.1 ms more. tools/build-release goes further and
            // links it fully static (no dynamic loader at all); that needs the static
            // Swift runtime, so it is a flag of that build, not of every release build.
            linkerSettings: [
                .unsafeFlags(["-Xclang-linker", "-no-pie"], .when(platforms: [.linux], configuration: .release)),
                .unsafeFlags(["-Xlinker", "--version-script=\(Context.packageDirectory)/Sources/PerfLogCLI/exports.map"],
                             .when(platforms: [.linux], configuration: .release)),
            ]
        ),
        // Writes events one commit at a time and acknowledges each on stdout; the
        // concurrency and crash tests drive it as separate processes.
        .executableTarget(name: "perflog-stress", dependencies: ["PerfLog"]),
        // Benchmarks, and the plain-C baseline they compare against; nothing else
        // depends on them.
        .target(name: "CBaseline", dependencies: ["CLMDB"]),
        .executableTarget(
            name: "perflog-bench",
            dependencies: [
                "PerfLog", "LMDB", "CBaseline",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            // The C floor under `perflog record`: the c-one-shot case compiles it with cc,
            // as a plain C program (linked by SwiftPM, it would carry the Swift runtime's
            // start-up, the very cost it is there to leave out).
            exclude: ["c-one-shot.c"]
        ),
        // What every test target shares: temporary directories, waiting with a deadline,
        // and running programs (the built perflog and perflog-stress above all). A plain
        // target, so that test targets can depend on it; in no product, and it depends on
        // none of the package's modules, so the LMDB tests stay below PerfLog.
        .target(name: "PerfLogTestSupport", path: "Tests/PerfLogTestSupport"),
        .testTarget(name: "LMDBTests", dependencies: ["LMDB", "PerfLogTestSupport"]),
        .testTarget(
            name: "PerfLogTests",
            dependencies: ["PerfLog", "PerfLogTestSupport", .product(name: "InMemoryLogging", package: "swift-log")]
        ),
        .testTarget(
            name: "PerfLogMetricsTests",
            dependencies: [
                "PerfLog", "PerfLogMetrics", "PerfLogTestSupport",
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ]
        ),
        .testTarget(name: "PerfLogCLITests", dependencies: ["PerfLog", "PerfLogCLI", "PerfLogTestSupport"], exclude: ["Fixtures"]),
        .testTarget(
            name: "PerfLogServiceTests",
            dependencies: [
                "PerfLog", "PerfLogService", "PerfLogTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
