// swift-tools-version:6.2
import PackageDescription

// Optimized in debug builds too: unoptimized SIMD code is a hundred times slower, and the tests and the bench
// smoke test run the debug binary.
#if arch(x86_64)
let kernelSettings: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "skylake-avx512", "-Ounchecked"])]
// The price pass keeps each family's best with conditional moves (`SubProblemSolver.keepFamilyBests`); x86's
// pass that turns conditional moves in loops back into branches made them a mispredicted branch per entry
// (bench/RESULTS.md, 2026-12-07, fifteenth session).
let coreSettings: [SwiftSetting] = [.unsafeFlags(["-Xllvm", "-x86-cmov-converter=false"])]
#else
let kernelSettings: [SwiftSetting] = [.unsafeFlags(["-Ounchecked"])]
let coreSettings: [SwiftSetting] = []
#endif

let package = Package(
    name: "nextbest",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "nextbest", targets: ["nextbest"]),
        .library(name: "NextBestCore", targets: ["NextBestCore"]),
        .library(name: "NextBestStore", targets: ["NextBestStore"]),
        .library(name: "NextBestONNX", targets: ["NextBestONNX"]),
        .library(name: "NextBestWire", targets: ["NextBestWire"]),
        .library(name: "NextBestCluster", targets: ["NextBestCluster"]),
        .library(name: "NextBestSynthetic", targets: ["NextBestSynthetic"]),
        .library(name: "NextBestTelemetry", targets: ["NextBestTelemetry"]),
        .library(name: "NextBestReport", targets: ["NextBestReport"]),
        .library(name: "NextBestInspect", targets: ["NextBestInspect"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.1.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        // The metrics endpoint's HTTP server: NIOCore, NIOPosix and NIOHTTP1 only. Measured on a 2-core machine
        // (`nice -n 19 swift build -j 1`, fresh): this package's debug build 87 s without, 135 s with it; a
        // package of just these modules 71 s, one of just Hummingbird 2 (which brings them and more) 200 s.
        .package(url: "https://github.com/apple/swift-nio", from: "2.65.0"),
        // The report page's template (NextBestReport): one module of 20 files, no dependencies of its own.
        // Measured on the same machine (`nice -n 19 swift build -j 1`, fresh, other builds running, so CPU time
        // is the steadier figure): a package of just it and a one-line main 13.6 s wall, 6.5 s CPU (again:
        // 7.0 s CPU), the same package without it 6.5 s wall, 2.9 s CPU; this package 147 s CPU before it,
        // 150 s after (NextBestReport included). About 4 s of CPU; 7 s of wall time in the quieter sample.
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
        // ONNX models (issue 24, part C): the protobuf runtime for NextBestONNX's generated onnx.pb.swift.
        // Measured on the 2-core machine (`nice -n 19 swift build -j 1`, debug, fresh, other builds running, so
        // CPU time is the steadier figure): a package of a one-line main 9 s wall, 3.5 s CPU; with SwiftProtobuf
        // 73 s wall, 34 s CPU; with SwiftProtobuf and the generated onnx.pb.swift (3,150 lines) 67 s wall,
        // 43 s CPU. About 30 s of CPU for the runtime and 9 s for the generated code.
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CLMDB",
            pkgConfig: "lmdb",
            providers: [.apt(["liblmdb-dev"]), .brew(["lmdb"])]
        ),
        // COIN-OR CLP and CBC (Eclipse Public Licence) through their C interfaces; `cbc.pc` names both.
        .systemLibrary(
            name: "CCoinOR",
            pkgConfig: "cbc",
            providers: [.apt(["coinor-libcbc-dev", "coinor-libclp-dev"]), .brew(["cbc"])]
        ),
        // zlib (issue 24): `import … FILE.gz` is read through a gzip stream.
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"]), .brew(["zlib"])]
        ),
        // A prefetch hint (header only, nothing to link): the price pass's sparse passes (NextBestCore).
        .systemLibrary(name: "CPrefetch"),
        .systemLibrary(
            name: "CZeroMQ",
            pkgConfig: "libzmq",
            providers: [.apt(["libzmq3-dev"]), .brew(["zeromq"])]
        ),
        // The AVX-512 tree kernel: compiled for AVX-512 CPUs on x86-64 and called only after NextBestCore has
        // checked the CPU (`TreeKernel.selected`); nothing else lives here.
        .target(
            name: "NextBestKernels",
            swiftSettings: kernelSettings
        ),
        // Default optimization: its preconditions stay on in release builds (bench/RESULTS.md: no measured
        // cost). Its one unsafe flag is an x86 code-generation switch (`coreSettings`); with
        // swift-tools-version 6.2, packages that depend on these products by version accept unsafe flags
        // (SwiftPM 6.2 and later).
        .target(
            name: "NextBestCore",
            dependencies: ["NextBestKernels", "CCoinOR", "CPrefetch"],
            swiftSettings: coreSettings
        ),
        // ONNX-ML models (`--format onnx`): onnx.pb.swift generated from Debian's onnx.proto, and the reader
        // that turns a skl2onnx/onnxmltools graph into a `DecisionForest` or `LogisticModel`. Only
        // NextBestStore's `ModelImporter` uses it; NextBestCore stays free of protobuf.
        .target(
            name: "NextBestONNX",
            dependencies: ["NextBestCore", .product(name: "SwiftProtobuf", package: "swift-protobuf")]
        ),
        .target(
            name: "NextBestStore",
            dependencies: [
                "NextBestCore", "NextBestONNX", "CLMDB", "CZlib",
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        .target(
            name: "NextBestWire",
            dependencies: ["NextBestCore", "CZeroMQ"]
        ),
        // Telemetry and HTTP (issue 22): the metrics registry and the endpoint Prometheus scrapes.
        .target(
            name: "NextBestTelemetry",
            dependencies: [
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
        // report.html (issue 22): summary.json decoded into one model and drawn through a Mustache template.
        // Foundation and Mustache only: nothing of the engine.
        .target(
            name: "NextBestReport",
            dependencies: [.product(name: "Mustache", package: "swift-mustache")]
        ),
        .target(
            name: "NextBestCluster",
            dependencies: [
                "NextBestCore", "NextBestStore", "NextBestWire", "NextBestTelemetry", "NextBestReport", "CPrefetch",
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        // `nextbest inspect`, `explain` and `export` (issue 22): read a store and its kept runs, score one
        // customer again; none of the cluster's roles.
        .target(
            name: "NextBestInspect",
            dependencies: ["NextBestCore", "NextBestStore", "NextBestCluster"]
        ),
        // `nextbest serve` (issue 26): the latest finished run's lists over HTTP (SwiftNIO, already here for the
        // metrics endpoint), responses recorded in the store.
        .target(
            name: "NextBestServe",
            dependencies: [
                "NextBestCore", "NextBestStore", "NextBestCluster", "NextBestInspect", "NextBestReport",
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        // The synthetic bank (`nextbest generate`, the tests' stores): customers, offers, models and a
        // campaign made from a seed, written through the importers. Nothing of the engine depends on it.
        .target(
            name: "NextBestSynthetic",
            dependencies: ["NextBestCore", "NextBestStore", "NextBestCluster"]
        ),
        .executableTarget(
            name: "nextbest",
            dependencies: [
                "NextBestCore", "NextBestStore", "NextBestWire", "NextBestCluster", "NextBestInspect", "NextBestSynthetic",
                "NextBestTelemetry", "NextBestServe",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "NextBestTestKit",
            dependencies: ["NextBestCore", "NextBestStore"]
        ),
        .testTarget(name: "NextBestCoreTests", dependencies: ["NextBestCore", "NextBestSynthetic"]),
        .testTarget(name: "NextBestStoreTests", dependencies: ["NextBestCore", "NextBestStore", "NextBestONNX", "NextBestTestKit", "NextBestSynthetic"]),
        .testTarget(name: "NextBestWireTests", dependencies: ["NextBestCore", "NextBestWire", "NextBestTestKit"]),
        .testTarget(name: "NextBestTelemetryTests", dependencies: ["NextBestTelemetry"]),
        .testTarget(name: "NextBestReportTests", dependencies: ["NextBestReport"]),
        .testTarget(name: "NextBestClusterTests", dependencies: ["NextBestCore", "NextBestStore", "NextBestWire", "NextBestCluster", "NextBestTelemetry", "NextBestTestKit",
                                                           "NextBestInspect", "NextBestSynthetic", "NextBestServe", .product(name: "Logging", package: "swift-log")]),
        // The `nextbest` executable's own logic: exit statuses, error lines, tables.
        .testTarget(name: "NextBestCommandTests", dependencies: ["nextbest", "NextBestCore", "NextBestStore", "NextBestWire", "NextBestCluster",
                                                               .product(name: "ArgumentParser", package: "swift-argument-parser")]),
    ]
)
