import Foundation
import TailorTestSupport
import XCTest

/// Scripts/install.sh as a first-time user runs it (here into a scratch prefix, with the built
/// binaries and systemctl left alone): tailor and tailord on the prefix's PATH, completions and
/// man pages that come from the argument parser, the Neovim plugin, the user units and a model
/// named in tailord.conf, so the installed daemon answers `tailor generate` with nothing more
/// to configure; then --uninstall removes what it installed and keeps the config.
final class InstallScriptTests: DaemonTestCase {
    private func script(_ args: [String]) throws -> BuiltProducts.Output {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = [TestPaths.repository("Scripts/install.sh").path] + args
        p.environment = ProcessInfo.processInfo.environment.merging([
            "XDG_CONFIG_HOME": dir + "/config", "TAILOR_MODEL": TestPaths.tinyModel(),
        ]) { $1 }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return .init(
            status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
            stderr: String(decoding: e, as: UTF8.self))
    }

    func testInstallThenGenerateThenUninstall() throws {
        let prefix = dir + "/prefix"
        let installed = try script(["--prefix", prefix, "--from", BuiltProducts.directory.path, "--no-enable"])
        XCTAssertEqual(installed.status, 0, installed.stderr + installed.stdout)
        let files = [
            "bin/tailor", "bin/tailord", "share/bash-completion/completions/tailor", "share/zsh/site-functions/_tailor",
            "share/fish/vendor_completions.d/tailor.fish", "share/man/man1/tailor.1", "share/man/man1/tailord.1",
            "share/tailor/nvim/lua/tailor/init.lua", "share/tailor/nvim/lua/tailor/health.lua",
        ]
        for f in files { XCTAssertTrue(FileManager.default.fileExists(atPath: prefix + "/" + f), f) }
        let man = try String(contentsOfFile: prefix + "/share/man/man1/tailor.1", encoding: .utf8)
        XCTAssertTrue(man.hasPrefix(".TH TAILOR 1"), String(man.prefix(80)))
        XCTAssertTrue(man.contains(".SS tailor models available"), "every subcommand has a section")
        let bash = try String(contentsOfFile: prefix + "/share/bash-completion/completions/tailor", encoding: .utf8)
        XCTAssertTrue(bash.contains("generate"))
        let config = dir + "/config/tailor/tailord.conf"
        XCTAssertEqual(try String(contentsOfFile: config, encoding: .utf8), "model = \(TestPaths.tinyModel())\n")
        let service = try String(contentsOfFile: dir + "/config/systemd/user/tailord.service", encoding: .utf8)
        XCTAssertTrue(service.contains("ExecStart=\(prefix)/bin/tailord --mode user"), service)

        // The installed daemon, started as its unit starts it, answers with no more setup.
        let socket = dir + "/i.sock"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: prefix + "/bin/tailord")
        p.arguments = ["--mode", "user", "--socket", socket, "--state-dir", dir + "/state", "--threads", "1"]
        p.environment = ProcessInfo.processInfo.environment.merging(["XDG_CONFIG_HOME": dir + "/config"]) { $1 }
        p.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try p.run()
        daemon = p
        var answered: BuiltProducts.Output?
        for _ in 0..<200 {
            let g = try BuiltProducts.tailor(["generate", "--socket", socket, "-n", "3", "hi"])
            if g.status == 0 { answered = g; break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        XCTAssertNotNil(answered, "the installed daemon never answered")
        p.terminate()
        p.waitUntilExit()

        let removed = try script(["--uninstall", "--prefix", prefix, "--no-enable"])
        XCTAssertEqual(removed.status, 0, removed.stderr)
        for f in files { XCTAssertFalse(FileManager.default.fileExists(atPath: prefix + "/" + f), f) }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/config/systemd/user/tailord.service"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: config), "the config is kept")
    }
}
