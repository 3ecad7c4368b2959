import Foundation
import TailorClient
import TailorWire

/// The bridge's requests in flight: each `complete` runs as a task keyed by its id, so a
/// `cancel` (or a newer request the editor sends on the next keystroke) stops it at once.
actor BridgeSession {
    private let client: TailorClient
    private let out: BridgeOutput
    private let user: String
    private let mode: String
    private var running: [String: Task<Void, Never>] = [:]

    init(client: TailorClient, out: BridgeOutput, user: String, mode: String) {
        self.client = client
        self.out = out
        self.user = user
        self.mode = mode
    }

    /// Parses and dispatches one line; a bad line gets an error answer and changes nothing.
    func handle(_ line: String) async {
        guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)), let req = object as? [String: Any]
        else {
            out.fail(nil, code: "INVALID_ARGUMENT", "the line is not a JSON object")
            return
        }
        guard let id = BridgeID(req["id"]) else {
            out.fail(nil, code: "INVALID_ARGUMENT", "field 'id' (a string or an integer) is missing")
            return
        }
        let key = id.key
        guard let op = req["op"] as? String else {
            out.fail(
                id, code: "INVALID_ARGUMENT", "field 'op' is missing: use complete, cancel, feedback, train or ping")
            return
        }
        do {
            switch op {
            case "ping": out.send(id, "pong")
            case "complete": try startCompletion(id: id, key: key, req)
            case "cancel":
                guard let target = req["target"].map({ "\($0)" }) else {
                    throw BridgeProblem("field 'target' (the id to cancel) is missing")
                }
                running.removeValue(forKey: target)?.cancel()
                out.send(id, "ok")
            case "feedback": try await feedback(id: id, req)
            case "train": try startTraining(id: id, key: key, req)
            default: throw BridgeProblem("unknown op '\(op.prefix(32))': use complete, cancel, feedback, train or ping")
            }
        } catch let p as BridgeProblem {
            out.fail(id, code: "INVALID_ARGUMENT", p.message)
        } catch let e as TailorClientError {
            out.fail(id, code: e.code.map { "\($0)" } ?? "UNAVAILABLE", "\(e)")
        } catch {
            out.fail(id, code: "INTERNAL", "\(error)")
        }
    }

    /// Waits for what is still running (stdin closed).
    func finish() async {
        for t in running.values { await t.value }
    }

    private func string(_ req: [String: Any], _ key: String, default value: String = "") throws -> String {
        guard let v = req[key] else { return value }
        guard let s = v as? String else { throw BridgeProblem("field '\(key)' must be a string") }
        return s
    }

    private func int(_ req: [String: Any], _ key: String, default value: Int) throws -> Int {
        guard let v = req[key] else { return value }
        guard let n = v as? NSNumber, !n.isJSONBoolean, let i = Int(exactly: n.doubleValue), i >= 0 else {
            throw BridgeProblem("field '\(key)' must be a non-negative integer")
        }
        return i
    }

    /// `complete`: streams `token` events, then `done` with the whole text and the stats.
    private func startCompletion(id: BridgeID, key: String, _ req: [String: Any]) throws {
        let prompt = try string(req, "prefix", default: try string(req, "prompt"))
        guard !prompt.isEmpty else { throw BridgeProblem("field 'prompt' (or 'prefix') is missing or empty") }
        var request = GenerateRequest(
            model: try string(req, "model"), input: .prompt(prompt), stop: (req["stop"] as? [String]) ?? [],
            maxTokens: UInt32(try int(req, "max_tokens", default: 64)), user: try string(req, "user", default: user),
            task: try string(req, "task"))
        request.mode = try string(req, "mode", default: mode)
        if request.task.isEmpty { request.mode = "base"; request.user = "" }
        if let t = req["temperature"] as? NSNumber { request.sampling.temperature = t.floatValue }
        let client = self.client, out = self.out
        running[key]?.cancel()
        // An editor must not go silent before its user has trained anything: the daemon serves
        // what exists, and `done` says what ran.
        request.fallback = true
        running[key] = Task { [weak self] in
            do {
                var text = ""
                for try await event in try client.generate(request) {
                    if Task.isCancelled { break }
                    switch event {
                    case let .token(_, _, t, _), let .contrastiveToken(_, _, t, _, _, _):
                        text += t
                        out.send(id, "token", ["text": t])
                    case let .stats(s):
                        text += s.tailText
                        out.send(
                            id, "done",
                            [
                                "text": text, "prompt_tokens": Int(s.promptTokens),
                                "cached_tokens": Int(s.cachedTokens),
                                "generated_tokens": Int(s.generatedTokens),
                                "ttft_ms": Int(s.timeToFirstTokenMS),
                                "total_ms": Int(s.totalMS), "finish_reason": s.finishReason,
                                "mode": s.mode, "fallback": s.fallback,
                                "adapters": s.adapters.map(\.spelled),
                            ])
                    }
                }
                if Task.isCancelled { out.send(id, "cancelled") }
            } catch is CancellationError {
                out.send(id, "cancelled")
            } catch let e as TailorClientError {
                out.fail(id, code: e.code.map { "\($0)" } ?? "UNAVAILABLE", "\(e)")
            } catch {
                out.fail(id, code: "INTERNAL", "\(error)")
            }
            await self?.done(key)
        }
    }

    private func done(_ key: String) { running[key] = nil }

    /// `feedback`: what the user did with a completion (accepted, edited, rejected).
    private func feedback(id: BridgeID, _ req: [String: Any]) async throws {
        let outcome = try string(req, "outcome")
        guard ["accepted", "edited", "rejected"].contains(outcome) else {
            throw BridgeProblem("field 'outcome' must be accepted, edited or rejected")
        }
        let event = Preferences.Feedback(
            requestID: try string(req, "request_id", default: id.key), task: try string(req, "task"),
            prompt: try string(req, "prompt"), shown: try string(req, "shown"), kept: try string(req, "kept"),
            outcome: outcome, mode: try string(req, "mode", default: mode))
        let r = try await client.recordFeedback(event, user: try string(req, "user", default: user))
        out.send(id, "ok", ["history": Int(r.history), "pairs": Int(r.pairs), "feedback": Int(r.feedback)])
    }

    /// `train`: submits a job (default `cope`) and streams `progress` until it ends.
    private func startTraining(id: BridgeID, key: String, _ req: [String: Any]) throws {
        let submit = Jobs.SubmitRequest(
            kind: try string(req, "kind", default: "cope"), user: try string(req, "user", default: user),
            task: try string(req, "task"))
        let client = self.client, out = self.out
        running[key] = Task { [weak self] in
            do {
                let job = try await client.submitJob(submit)
                out.send(id, "job", ["job": job.id])
                var last: Jobs.Info?
                for try await info in try client.watchJob(job.id) {
                    last = info
                    out.send(
                        id, "progress",
                        [
                            "job": info.id, "state": info.state, "stage": info.stage, "step": Int(info.step),
                            "total_steps": Int(info.totalSteps), "loss": Double(info.loss),
                        ])
                }
                out.send(id, "done", ["job": job.id, "state": last?.state ?? "unknown", "error": last?.error ?? ""])
            } catch let e as TailorClientError {
                out.fail(id, code: e.code.map { "\($0)" } ?? "UNAVAILABLE", "\(e)")
            } catch {
                out.fail(id, code: "INTERNAL", "\(error)")
            }
            await self?.done(key)
        }
    }
}

/// A bad bridge request.
struct BridgeProblem: Error {
    let message: String
    init(_ message: String) { self.message = message }
}
