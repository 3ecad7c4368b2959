import Foundation
import TailorFuzz

// `tailor-fuzz TARGET [libFuzzer options and corpus directories]`: one of `FuzzTarget`'s
// targets under libFuzzer. Built only with TAILOR_FUZZ=1 and `-sanitize=fuzzer,address`
// (Scripts/fuzz.sh), since libFuzzer supplies the driver this file calls.

@_silgen_name("LLVMFuzzerRunDriver")
private func runDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

/// The target and harness this process fuzzes, set once before the driver starts.
nonisolated(unsafe) private var current: (target: FuzzTarget, harness: FuzzHarness)?

@_cdecl("tailor_fuzz_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")
    guard argc >= 2, let argv, let name = argv[1].map({ String(cString: $0) }), let target = FuzzTarget(rawValue: name)
    else {
        FileHandle.standardError.write(
            Data("usage: tailor-fuzz TARGET [libFuzzer options] [corpus dirs]; targets: \(names)\n".utf8))
        return 2
    }
    do {
        let model =
            getenv("TAILOR_FUZZ_MODEL").map { String(cString: $0) }
            ?? "Tests/TailorEngineTests/Fixtures/tiny/llama.gguf"
        current = (target, try FuzzHarness(loraModel: model))
    } catch {
        FileHandle.standardError.write(Data("tailor-fuzz: cannot read the model for gguf-lora: \(error)\n".utf8))
        return 2
    }
    // libFuzzer sees the program name followed by its own arguments.
    argv[1] = argv[0]
    var count = argc - 1
    var rest: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = argv + 1
    return runDriver(&count, &rest) { data, size in testOneInput(data, size) }
}

/// libFuzzer's entry point for one input (also what its own `main` would call).
@_cdecl("LLVMFuzzerTestOneInput")
func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let (target, harness) = current else { return 0 }
    harness.run(target, Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
