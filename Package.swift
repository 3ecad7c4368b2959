// swift-tools-version: 6.0
// Tailor: a personalized-LLM runtime for the Linux desktop. See DEVELOPERS.md for the layout.
import PackageDescription

/// libFuzzer's driver exists only in builds with `-sanitize=fuzzer`, so the fuzzer executable
/// is part of the package only when Scripts/fuzz.sh asks for it.
let fuzzing = Context.environment["TAILOR_FUZZ"] == "1"

let package = Package(
    name: "Tailor",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "TailorEngine", targets: ["TailorEngine"]),
        .library(name: "TailorWire", targets: ["TailorWire"]),
        .library(name: "TailorClient", targets: ["TailorClient"]),
        .library(name: "TailorDaemon", targets: ["TailorDaemon"]),
        .library(name: "TailorStore", targets: ["TailorStore"]),
        .library(name: "TailorTraining", targets: ["TailorTraining"]),
        .library(name: "TailorEval", targets: ["TailorEval"]),
        .executable(name: "tailor", targets: ["tailor"]),
        .executable(name: "tailord", targets: ["tailord"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.0.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
    ],
    targets: [
        // Hot math in C: per-function AVX2 targets chosen at run time, a portable path, the
        // thread pool, the OpenBLAS-backed gemm and oneDNN's bf16 gemm (loaded at run time).
        // Optimized even in debug builds, so tests of real models run at a useful speed.
        .target(
            name: "CTailorKernels",
            cSettings: [.unsafeFlags(["-O3", "-fno-math-errno"])],
            linkerSettings: [
                .linkedLibrary("openblas"), .linkedLibrary("pthread"), .linkedLibrary("m"), .linkedLibrary("dl"),
            ]
        ),
        // GGUF, tokenizers, models, KV cache, sampling. Knows nothing of sockets or storage.
        // The seeded random numbers every reproducible result draws from (sampling, adapter
        // initialization, data order, bootstrap intervals).
        .target(name: "TailorRandom"),
        .target(
            name: "TailorEngine",
            dependencies: ["CTailorKernels", "TailorRandom"]
        ),
        // LoRA training on the engine's frozen models: the backward pass, SFT, DPO, negatives,
        // the optimizer. No I/O policy: callers hand it token sequences.
        .target(
            name: "TailorTraining",
            dependencies: ["TailorEngine", "CTailorKernels"]
        ),
        // Evaluation: ROUGE as rouge_score computes it.
        .target(
            name: "TailorEval",
            dependencies: ["TailorRandom"]
        ),
        // libprotobuf-c, from the system (Debian: libprotobuf-c-dev).
        .systemLibrary(
            name: "CProtobufC",
            pkgConfig: "libprotobuf-c",
            providers: [.apt(["libprotobuf-c-dev"])]
        ),
        // protoc-c output for Proto/, committed; Scripts/generate-wire.sh regenerates it.
        .target(
            name: "TailorWireC",
            dependencies: ["CProtobufC"]
        ),
        // Plain Swift values <-> protobuf-c messages, framing, status codes: the only code that
        // touches protobuf-c pointers.
        .target(
            name: "TailorWire",
            dependencies: ["TailorWireC", "CProtobufC"]
        ),
        // Storage: the on-disk adapter registry and the preference-data database (SQLite via GRDB).
        // Crash-safe writes; no sockets, no math.
        .target(
            name: "TailorStore",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        // The GGUF models a person can name instead of giving a path: Tailor's models directory
        // and Ollama's store. Foundation only.
        .target(name: "TailorModels"),
        // A training job's parameters as a client submits them, resolved against each stage's
        // defaults, and the stored records as the pipeline reads them: what tailord's jobs and
        // `tailor train --offline` both run.
        .target(
            name: "TailorJobs",
            dependencies: ["TailorTraining", "TailorWire", "TailorStore", "TailorEval"]
        ),
        // The daemon: the NIO Unix-socket server, its services, generation scheduling,
        // configuration, access control and systemd glue. Composes the modules above; no math.
        .target(
            name: "TailorDaemon",
            dependencies: [
                "TailorWire", "TailorEngine", "TailorStore", "TailorTraining", "TailorJobs", "TailorModels",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // The Swift client of tailord: async/await calls and streams over the socket.
        .target(
            name: "TailorClient",
            dependencies: [
                "TailorWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        // `tailord`: the daemon's thin main.
        .executableTarget(
            name: "tailord",
            dependencies: [
                "TailorDaemon", "TailorEngine", "TailorWire",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // The `tailor` command line. Offline commands call the engine directly; the others go
        // through TailorClient to the daemon.
        .executableTarget(
            name: "tailor",
            dependencies: [
                "TailorEngine", "TailorTraining", "TailorJobs", "TailorEval", "TailorClient", "TailorWire",
                "TailorDaemon", "TailorStore", "TailorModels",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // The parsers of untrusted bytes as fuzz targets: replayed over Tests/Fuzz/Corpus by
        // the tests, run under libFuzzer by `tailor-fuzz`.
        .target(
            name: "TailorFuzz",
            dependencies: ["TailorDaemon", "TailorEngine", "TailorStore", "TailorWire"]
        ),
        // What every test target shares: paths, the built executables, a tailord per test.
        .target(
            name: "TailorTestSupport",
            path: "Tests/TestSupport"
        ),
        .testTarget(
            name: "TailorEngineTests",
            dependencies: ["TailorEngine", "CTailorKernels", "TailorTestSupport"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "TailorWireTests",
            dependencies: ["TailorWire", "TailorTestSupport"]
        ),
        .testTarget(
            name: "TailorStoreTests",
            dependencies: ["TailorStore", "TailorTestSupport", .product(name: "GRDB", package: "GRDB.swift")]
        ),
        .testTarget(
            name: "TailorDaemonTests",
            dependencies: [
                "TailorDaemon", "TailorClient", "TailorWire", "TailorStore", "TailorEngine", "TailorFuzz",
                "TailorTestSupport",
            ]
        ),
        .testTarget(
            name: "TailorTrainingTests",
            dependencies: ["TailorTraining", "TailorEngine", "TailorTestSupport"],
            exclude: ["Fixtures"]
        ),
        .testTarget(
            name: "TailorJobsTests",
            dependencies: [
                "TailorJobs", "TailorTraining", "TailorEngine", "TailorWire", "TailorStore", "TailorTestSupport",
            ]
        ),
        .testTarget(
            name: "TailorModelsTests",
            dependencies: ["TailorModels"]
        ),
        .testTarget(
            name: "TailorClientTests",
            dependencies: ["TailorClient", "TailorWire"]
        ),
        .testTarget(
            name: "TailorEvalTests",
            dependencies: ["TailorEval", "TailorRandom", "TailorTestSupport"],
            exclude: ["Fixtures"]
        ),
        .testTarget(
            name: "TailorCLITests",
            dependencies: ["tailor", "TailorEngine", "TailorEval", "TailorStore", "TailorWire", "TailorTestSupport"],
            exclude: ["Fixtures"]
        ),
    ]
        + (fuzzing
            ? [
                .executableTarget(
                    name: "tailor-fuzz",
                    dependencies: ["TailorFuzz"],
                    swiftSettings: [.unsafeFlags(["-parse-as-library"])]
                )
            ] : []),
    swiftLanguageModes: [.v6]
)
