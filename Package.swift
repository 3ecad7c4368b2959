// swift-tools-version: 6.0
// Tailor: a personalized-LLM runtime for the Linux desktop. See DEVELOPERS.md for the layout.
import PackageDescription

let package = Package(
    name: "Tailor",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "TailorEngine", targets: ["TailorEngine"]),
        .library(name: "TailorWire", targets: ["TailorWire"]),
        .executable(name: "tailor", targets: ["tailor"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // Hot math in C: per-function AVX2 targets chosen at run time, a portable path, the
        // thread pool and the OpenBLAS-backed gemm. Optimized even in debug builds, so tests
        // of real models run at a useful speed.
        .target(
            name: "CTailorKernels",
            cSettings: [.unsafeFlags(["-O3", "-fno-math-errno"])],
            linkerSettings: [.linkedLibrary("openblas"), .linkedLibrary("pthread"), .linkedLibrary("m")]
        ),
        // GGUF, tokenizers, models, KV cache, sampling. Knows nothing of sockets or storage.
        .target(
            name: "TailorEngine",
            dependencies: ["CTailorKernels"]
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
        // The daemon's parts: systemd glue and paths so far; the NIO server and services come next.
        .target(
            name: "TailorDaemon",
            dependencies: ["TailorWire", "TailorEngine"]
        ),
        // The `tailor` command line. Offline commands call the engine directly.
        .executableTarget(
            name: "tailor",
            dependencies: [
                "TailorEngine",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(
            name: "TailorEngineTests",
            dependencies: ["TailorEngine", "CTailorKernels"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "TailorWireTests",
            dependencies: ["TailorWire"]
        ),
        .testTarget(
            name: "TailorDaemonTests",
            dependencies: ["TailorDaemon"]
        ),
        .testTarget(
            name: "TailorCLITests",
            dependencies: ["tailor"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
