import Foundation
import TailorTestSupport
import XCTest

/// The Neovim plugin (Clients/nvim) in a real headless Neovim against a live tailord: typing
/// brings a debounced ghost-text completion, the accept key inserts it, and leaving insert mode
/// records the verdict: accepted (a history item), then an accepted-and-changed one (edited, a
/// pair), then a dismissed one (rejected, an event), all of which must land in the store.
final class NeovimPluginTests: DaemonTestCase {
    override var scratchName: String { "tailor-nvim" }

    /// Neovim (or a skip) and a live tailord on the tiny model, answering on the returned socket.
    private func neovimAndDaemon() throws -> (nvim: String, socket: String) {
        let nvim = ["/usr/bin/nvim", "/usr/local/bin/nvim"].first { FileManager.default.isExecutableFile(atPath: $0) }
        try XCTSkipUnless(nvim != nil, "Neovim is not installed (apt install neovim)")
        let socket = dir + "/t.sock"
        try startDaemon(
            [
                "--socket", socket, "--state-dir", dir + "/state", "--config", emptyConfig(),
                "--model", TestPaths.tinyModel(), "-t", "1",
            ], socket: socket)
        return (nvim!, socket)
    }

    /// Runs `script` (in Clients/nvim/tests) in a headless Neovim with the plugin, against the
    /// daemon on `socket`; returns what it wrote to $TAILOR_RESULT.
    private func runNeovim(_ nvim: String, script: String, socket: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: nvim)
        let plugin = TestPaths.repository("Clients/nvim").path
        p.arguments = [
            "--headless", "-u", "NONE", "-i", "NONE", "--cmd", "set rtp^=\(plugin)", "-c",
            "luafile \(plugin)/tests/\(script)",
        ]
        var env = ProcessInfo.processInfo.environment
        env["TAILOR_BIN"] = BuiltProducts.tailor.path
        env["TAILOR_SOCKET"] = socket
        env["TAILOR_RESULT"] = dir + "/result"
        p.environment = env
        p.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        p.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try p.run()
        let deadline = Date().addingTimeInterval(60)
        while p.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        if p.isRunning { p.terminate() }
        p.waitUntilExit()
        return (try? String(contentsOfFile: dir + "/result", encoding: .utf8))
            ?? "no result (Neovim exited \(p.terminationStatus))"
    }

    /// A missing `tailor` and a down daemon each reach the user once through vim.notify, with
    /// what to do; :checkhealth tailor reports the binary, the daemon and its models.
    func testProblemsAreShownOnceAndCheckhealthSaysWhatWorks() throws {
        let (nvim, socket) = try neovimAndDaemon()
        XCTAssertEqual(try runNeovim(nvim, script: "problems_test.lua", socket: socket), "OK")
    }

    func testTypeAcceptAndFeedbackLandsInTheStore() throws {
        let (nvim, socket) = try neovimAndDaemon()
        let result = try runNeovim(nvim, script: "accept_test.lua", socket: socket)
        // bytes: a generated combining mark joins the last letter's grapheme
        XCTAssertTrue(result.utf8.starts(with: "OK the theme".utf8), result)
        let stats = try BuiltProducts.tailor(["data", "ls", "--socket", socket])
        XCTAssertTrue(stats.stdout.contains("nvim user\t1 history\t1 pairs\t3 feedback\ttasks: code.lua"), stats.stdout)
    }
}
