import ArgumentParser
import Foundation
import TailorClient
import TailorDaemon
import TailorEngine
import TailorWire

#if canImport(Glibc)
import Glibc
#endif

/// `tailor daemon bench`: the daemon's overheads, measured against a running tailord.
///
/// - Control RPC: Health.Check round trips over the socket, p50 and p99.
/// - Time to first token through the daemon against the same generation in-process (same
///   model file, same slot plan), so the difference is the daemon path: socket, framing,
///   queueing, the worker hand-off.
/// - Idle connections: the daemon's RSS before and after opening N connections that said Hello.
struct DaemonBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Measure the daemon's RPC latency, TTFT overhead and idle-connection memory.")

    @OptionGroup var connection: ConnectionOptions
    @Option(help: "The GGUF file the daemon has loaded (for the in-process comparison).") var model: String
    @Option(name: .customLong("model-id"), help: "Its id in the daemon (default: the only loaded model).") var modelID:
        String = ""
    @Option(help: "Health.Check round trips.") var rpcs: Int = 2000
    @Option(help: "TTFT repetitions per side.") var repetitions: Int = 20
    @Option(help: "Idle connections to open.") var idle: Int = 100
    @Option(help: "Threads for the in-process side (match the daemon's).") var threads: Int?
    @Option(help: "Slots of the in-process side (match the daemon's).") var slots: Int = 4
    @Option(help: "Context of the in-process side (match the daemon's).") var context: Int = 4096
    @Option(help: "The prompt for TTFT.") var prompt: String =
        "The three most useful habits of a careful programmer are"

    func run() async throws {
        let path = TailorClient.socketPath(flag: connection.socket)
        let client = try await connection.connect()
        defer { Task { await client.close() } }

        // Control RPC round trips.
        for _ in 0..<100 { _ = try await client.health() }
        var rpc: [Double] = []
        for _ in 0..<rpcs {
            let t0 = DispatchTime.now().uptimeNanoseconds
            _ = try await client.health()
            rpc.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e3)
        }
        rpc.sort()
        print(
            String(
                format: "rpc Health.Check: p50 %.0f us, p99 %.0f us (%d calls)", percentile(rpc, 0.5),
                percentile(rpc, 0.99), rpcs))

        // TTFT: daemon vs in-process, interleaved so machine noise hits both sides alike.
        let engine = try Model(path: model)
        let ids = engine.tokenizer.encode(prompt, addSpecial: true, parseSpecial: false)
        let ctx = InferenceContext(
            model: engine, maxSequences: slots, maxContext: min(context, engine.config.contextLength),
            maxBatchTokens: 256, threads: threads)
        let decoder = BatchDecoder(context: ctx)
        var local: [Double] = [], remote: [Double] = []
        for i in 0..<(repetitions + 2) {
            // Both sides start from idle thread pools: a pool spins about a millisecond after
            // its last work, and that spinning would steal a core from whichever side runs next.
            try await Task.sleep(for: .milliseconds(20))
            let t0 = DispatchTime.now().uptimeNanoseconds
            let tokens = engine.tokenizer.encode(prompt, addSpecial: true, parseSpecial: false)
            let slot = try decoder.admit(.init(prompt: tokens, options: GenerationOptions(maxTokens: 1)))
            var first = false
            while !first { for e in try decoder.step() where e.slot == slot { first = true } }
            let t1 = DispatchTime.now().uptimeNanoseconds
            let request = GenerateRequest(model: modelID, input: .prompt(prompt), maxTokens: 1)
            try await Task.sleep(for: .milliseconds(20))
            let t2 = DispatchTime.now().uptimeNanoseconds
            var t3 = t2
            // The first event: a token, or the stats when the first sampled token is EOS (the
            // in-process side likewise stops at the first step's result, whichever it is).
            for try await _ in try client.generate(request) where t3 == t2 { t3 = DispatchTime.now().uptimeNanoseconds }
            if i >= 2 {  // the first runs warm caches on both sides
                local.append(Double(t1 - t0) / 1e6)
                remote.append(Double(t3 - t2) / 1e6)
            }
        }
        local.sort(); remote.sort()
        let ml = percentile(local, 0.5), mr = percentile(remote, 0.5)
        print(
            String(
                format: "ttft (%d prompt tokens): in-process p50 %.2f ms, daemon p50 %.2f ms, overhead %.2f ms",
                ids.count, ml, mr, mr - ml))

        // Idle connections.
        let pid = try daemonPID(path)
        let before = rssKB(pid)
        var held: [Int32] = []
        for _ in 0..<idle { held.append(try helloConnection(path)) }
        try await Task.sleep(for: .milliseconds(300))
        let after = rssKB(pid)
        print(
            String(
                format: "idle connections: %d cost %.2f MB of daemon RSS (%d kB -> %d kB)",
                idle, Double(after - before) / 1024, before, after))
        for fd in held { close(fd) }
    }

    private func percentile(_ sorted: [Double], _ p: Double) -> Double {
        sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count - 1) * p + 0.5))]
    }

    private func rssKB(_ pid: Int32) -> Int {
        guard let s = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = s.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
        else { return 0 }
        return Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) ?? 0
    }

    /// A raw connection that has said Hello, left open.
    private func helloConnection(_ path: String) throws -> Int32 {
        let fd = try UnixSocket.connect(path)
        let hello = try FrameCodec.encode(
            Frame(
                streamID: 0,
                kind: .request(
                    Request(
                        service: "tailor.v1.Session", method: "Hello",
                        payload: try HelloRequest(client: "bench").serialized()))))
        _ = hello.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var decoder = FrameDecoder()
        var buf = [UInt8](repeating: 0, count: 4096)
        var frames = 0
        while frames < 2 {
            let n = recv(fd, &buf, buf.count, 0)
            guard n > 0 else { throw CLIError("the daemon closed an idle connection") }
            decoder.append(buf[0..<n])
            while try decoder.next() != nil { frames += 1 }
        }
        return fd
    }

    /// The daemon's pid, from the kernel's credentials of the socket's other end.
    private func daemonPID(_ path: String) throws -> Int32 {
        let fd = try UnixSocket.connect(path)
        defer { close(fd) }
        guard let peer = PeerCredentials.of(socket: fd) else {
            throw CLIError("the kernel gave no credentials for \(path)")
        }
        return peer.pid
    }
}
