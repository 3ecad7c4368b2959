import ArgumentParser
import Foundation
import TailorClient
import TailorWire

/// `tailor bridge`: JSON lines on stdin/stdout ⇄ tailord's protobuf protocol, for editors and
/// scripts that cannot speak protobuf (the Neovim plugin uses it). One request per line, each
/// with an `id` the answers repeat; completions stream, and a `cancel` stops one at once.
/// The protocol is specified in docs/bridge.md.
struct BridgeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bridge",
        abstract: "Speak JSON lines on stdin/stdout to tailord (complete, cancel, feedback, train); see docs/bridge.md."
    )

    @OptionGroup var connection: ConnectionOptions
    @Option(help: "User whose adapters personalize completions (a request may name another).") var user: String =
        NSUserName()
    @Option(help: "Default decoding mode.") var mode: String = "cope"

    func run() async throws {
        let out = BridgeOutput()
        let client: TailorClient
        do {
            client = try await connection.connect()
        } catch {
            out.fail(nil, code: "UNAVAILABLE", "\(error)")
            throw ExitCode(1)
        }
        let session = BridgeSession(client: client, out: out, user: user, mode: mode)
        out.send(nil, "ready", ["user": user, "mode": mode])
        // Lines are read on a thread of their own: FileHandle's reads block.
        let lines = AsyncStream<String> { continuation in
            Thread.detachNewThread {
                while let line = readLine(strippingNewline: true) { continuation.yield(line) }
                continuation.finish()
            }
        }
        for await line in lines where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            await session.handle(line)
        }
        await session.finish()
        await client.close()
    }
}
