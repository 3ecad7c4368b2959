import Foundation
import XCTest

/// The built `tailor` and `tailord` executables, beside the test bundle, run the way their
/// users run them.
public enum BuiltProducts {
    /// The build directory holding the test bundle and the executables.
    public static var directory: URL {
        var dir = Bundle(for: DaemonTestCase.self).bundleURL
        while dir.pathExtension == "xctest" { dir.deleteLastPathComponent() }
        return dir
    }

    public static var tailor: URL { directory.appendingPathComponent("tailor") }
    public static var tailord: URL { directory.appendingPathComponent("tailord") }

    /// A skip unless `tailord` was built.
    public static func requireTailord() throws {
        try XCTSkipUnless(
            FileManager.default.isExecutableFile(atPath: tailord.path), "tailord not built at \(tailord.path)")
    }

    /// What a finished command printed.
    public struct Output {
        public var status: Int32
        public var stdout: String
        public var stderr: String

        public init(status: Int32, stdout: String, stderr: String) {
            self.status = status
            self.stdout = stdout
            self.stderr = stderr
        }
    }

    /// Runs `tailor args` to its end; `environment` entries are added to this process's, and
    /// `input` (when given) is its standard input.
    public static func tailor(
        _ args: [String], environment: [String: String] = [:], input: Data? = nil
    ) throws
        -> Output
    {
        let p = Process()
        p.executableURL = tailor
        p.arguments = args
        if !environment.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        let stdin = input.map { _ in Pipe() }
        if let stdin { p.standardInput = stdin }
        try p.run()
        if let stdin, let input {
            try stdin.fileHandleForWriting.write(contentsOf: input)
            try stdin.fileHandleForWriting.close()
        }
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Output(
            status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
            stderr: String(decoding: e, as: UTF8.self))
    }

    /// Starts tailord with `args` and waits until `tailor status` answers on `socket`; its
    /// standard error goes to `log` (or nowhere); `environment` entries are added to this process's.
    public static func launchDaemon(
        _ args: [String], socket: String, log: String? = nil, environment: [String: String] = [:]
    ) throws -> Process {
        let p = Process()
        p.executableURL = tailord
        p.arguments = args
        if !environment.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        if let log { _ = FileManager.default.createFile(atPath: log, contents: nil) }
        p.standardError = FileHandle(forWritingAtPath: log ?? "/dev/null")
        try p.run()
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if (try? tailor(["status", "--socket", socket]))?.status == 0 { return p }
            Thread.sleep(forTimeInterval: 0.05)
        }
        XCTFail("the daemon never answered on \(socket)")
        return p
    }
}

/// A test against a real tailord: a scratch directory per test (removed afterwards) and the
/// daemon it starts there (stopped afterwards). Skips when tailord was not built.
open class DaemonTestCase: XCTestCase {
    /// This test's scratch directory.
    public private(set) var dir = ""
    /// The daemon `startDaemon` started, if any.
    public var daemon: Process?

    /// The prefix of the scratch directory's name.
    open var scratchName: String { "tailor-test" }

    override open func setUpWithError() throws {
        try BuiltProducts.requireTailord()
        dir = NSTemporaryDirectory() + "\(scratchName)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override open func tearDown() {
        if let d = daemon, d.isRunning { d.terminate(); d.waitUntilExit() }
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// An empty config file (so no user's or system's tailord.conf is read).
    public func emptyConfig() -> String {
        let path = dir + "/empty.conf"
        _ = FileManager.default.createFile(atPath: path, contents: Data())
        return path
    }

    /// Starts tailord with `args` and waits until it answers on `socket`.
    @discardableResult
    public func startDaemon(
        _ args: [String], socket: String, log: String? = nil, environment: [String: String] = [:]
    ) throws -> Process {
        let p = try BuiltProducts.launchDaemon(args, socket: socket, log: log, environment: environment)
        daemon = p
        return p
    }
}
