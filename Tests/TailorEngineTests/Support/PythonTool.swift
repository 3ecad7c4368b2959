import Foundation
import XCTest

/// Runs python3 for cross-checks against Python references (gguf, peft), skipping the test with
/// a message when the needed modules are absent.
enum PythonTool {
    /// Runs `python3 args`, returning its exit status and standard output.
    static func run(_ args: [String]) throws -> (status: Int32, output: Data) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3"] + args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, data)
    }

    /// Skips the calling test unless `import modules` works.
    static func require(_ modules: String) throws {
        let probe = try run(["-c", "import \(modules)"])
        try XCTSkipIf(probe.status != 0, "Python modules '\(modules)' are absent: skipping this cross-check")
    }
}
