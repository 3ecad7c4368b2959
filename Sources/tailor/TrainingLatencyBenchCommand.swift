import ArgumentParser
import Foundation
import TailorClient
import TailorWire

/// `tailor daemon bench-training`: interactive decoding while a training job runs, against the
/// same requests on an idle daemon, in the same run. Generations alternate between the two
/// phases' measurements only in time; the job is cancelled at the end.
struct TrainingLatencyBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-training",
        abstract: "Measure generation latency while a training job runs, against idle.")

    @OptionGroup var connection: ConnectionOptions
    @Option(help: "The user whose (imported) history the job trains on.") var user: String
    @Option(help: "The task.") var task: String
    @Option(help: "Generations per phase.") var requests: Int = 12
    @Option(name: .customShort("n"), help: "Tokens per generation.") var tokens: UInt32 = 32
    @Option(help: "The prompt.") var prompt: String =
        "Write a commit subject for: fix the parser's handling of empty lines"
    @Option(
        help: """
            The job to run meanwhile: oppu (training steps), negatives (sampling and scoring; the user needs an \
            OPPU adapter), or autopilot (resumes the paused autopilot for the user, who has pending data, and \
            measures while its round runs; the round is left to finish).
            """
    )
    var kind: String = "oppu"

    func validate() throws {
        guard ["oppu", "negatives", "autopilot"].contains(kind) else {
            throw ValidationError("--kind must be oppu, negatives or autopilot, not '\(kind)'")
        }
    }

    /// The job measured under: a submitted one, or the autopilot's round once resumed.
    private func startJob(_ client: TailorClient) async throws -> Jobs.Info {
        if kind == "autopilot" {
            _ = try await client.resumeAutopilot(Autopilot.Scope(user: user, task: task))
            let deadline = Date().addingTimeInterval(600)
            while Date() < deadline {
                let round = try await client.jobs(user: user, task: task).first { $0.origin == "autopilot" }
                if let round, round.state == "running", round.step >= 1 { return round }
                try await Task.sleep(for: .milliseconds(200))
            }
            throw ValidationError("no autopilot round started within 10 minutes: see `tailor autopilot status`")
        }
        var req = Jobs.SubmitRequest(kind: kind, user: user, task: task)
        req.parameters.epochs = 1000  // oppu: never finishes within the measurement
        req.parameters.maxTokens = 256
        let job = try await client.submitJob(req)
        for try await info in try client.watchJob(job.id) {
            if info.state == "failed" { throw ValidationError("the \(kind) job failed: \(info.error)") }
            if info.state == "running" && info.step >= 1 { return info }
        }
        return try await client.job(job.id)
    }

    func run() async throws {
        let client = try await connection.connect()
        func measure() async throws -> (ttft: [Double], total: [Double]) {
            var ttft: [Double] = [], total: [Double] = []
            for _ in 0..<requests {
                try await Task.sleep(for: .milliseconds(300))  // an editor's pause between requests
                let t0 = DispatchTime.now().uptimeNanoseconds
                var first: UInt64?
                for try await e in try client.generate(
                    GenerateRequest(model: "", input: .prompt(prompt), maxTokens: tokens))
                {
                    if case .token = e, first == nil { first = DispatchTime.now().uptimeNanoseconds }
                }
                let t1 = DispatchTime.now().uptimeNanoseconds
                ttft.append(Double((first ?? t1) - t0) / 1e6)
                total.append(Double(t1 - t0) / 1e6)
            }
            return (ttft.sorted(), total.sorted())
        }
        _ = try await measure()  // warm-up
        let idle = try await measure()
        let job = try await startJob(client)
        let busy = try await measure()
        let state = try await client.job(job.id)
        if kind != "autopilot" { _ = try await client.cancelJob(job.id) }
        await client.close()
        func p(_ x: [Double], _ q: Double) -> Double { x[min(x.count - 1, Int(Double(x.count) * q))] }
        print(
            String(
                format: "idle:     TTFT p50 %.0f ms p95 %.0f ms; %d-token generation p50 %.0f ms p95 %.0f ms",
                p(idle.ttft, 0.5), p(idle.ttft, 0.95),
                tokens, p(idle.total, 0.5), p(idle.total, 0.95)))
        print(
            String(
                format:
                    "training: TTFT p50 %.0f ms p95 %.0f ms; %d-token generation p50 %.0f ms p95 %.0f ms (job at "
                    + state.stage + " step %d, %.0f tok/s)",
                p(busy.ttft, 0.5), p(busy.ttft, 0.95), tokens, p(busy.total, 0.5), p(busy.total, 0.95),
                state.step, state.tokensPerSecond))
        print(
            String(
                format: "training / idle: TTFT p50 %.2f×, p95 %.2f×; generation p50 %.2f×, p95 %.2f×",
                p(busy.ttft, 0.5) / p(idle.ttft, 0.5),
                p(busy.ttft, 0.95) / p(idle.ttft, 0.95), p(busy.total, 0.5) / p(idle.total, 0.5),
                p(busy.total, 0.95) / p(idle.total, 0.95)))
    }
}
