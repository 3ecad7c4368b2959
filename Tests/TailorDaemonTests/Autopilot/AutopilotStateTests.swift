import Foundation
import TailorJobs
import TailorWire
import XCTest

@testable import TailorDaemon

/// The scheduler's rule for one key at one moment, first reason first, and the kernel's
/// power-supply report read as the autopilot reads it.
final class AutopilotStateTests: XCTestCase {
    private let now = Date(timeIntervalSince1970: 1_000_000)
    private var settings: AutopilotSettings {
        var s = AutopilotSettings()
        s.minNewItems = 16
        s.idleSeconds = 120
        s.maxJobsPerDay = 2
        s.backoffSeconds = 60
        s.backoffMaxSeconds = 300
        return s
    }

    private func facts(_ change: (inout AutopilotFacts) -> Void = { _ in }) -> AutopilotFacts {
        var f = AutopilotFacts(key: AutopilotKey(owner: 1, user: "ada", task: "t"))
        f.pending = 16
        f.trainable = 12
        change(&f)
        return f
    }

    private func machine(_ change: (inout MachineFacts) -> Void = { _ in }) -> MachineFacts {
        var m = MachineFacts(now: now, idleSince: now.addingTimeInterval(-121), onMains: nil)
        change(&m)
        return m
    }

    private func state(_ f: AutopilotFacts, _ m: MachineFacts? = nil, _ s: AutopilotSettings? = nil) -> AutopilotState {
        AutopilotState(f, machine: m ?? machine(), settings: s ?? settings)
    }

    func testEachConditionHoldsARoundBack() {
        XCTAssertEqual(state(facts()), .ready)
        XCTAssertEqual(state(facts { $0.pending = 15 }), .waitingForData(pending: 15, needed: 16))
        XCTAssertEqual(
            state(facts { $0.trainable = 0 }), .waitingForData(pending: 16, needed: 16),
            "nothing left to train on once the newest items are held back")
        XCTAssertEqual(state(facts { $0.paused = true }), .paused)
        XCTAssertEqual(state(facts { $0.unfinishedJob = "job-1" }), .running(job: "job-1"))
        XCTAssertEqual(state(facts(), machine { $0.idleSince = nil }), .waitingForIdle(until: nil))
        XCTAssertEqual(
            state(facts(), machine { $0.idleSince = now.addingTimeInterval(-100) }),
            .waitingForIdle(until: now.addingTimeInterval(20)))
        XCTAssertEqual(state(facts(), machine { $0.onMains = false }), .onBattery)
        XCTAssertEqual(state(facts(), machine { $0.onMains = true }), .ready)
        var anyPower = settings
        anyPower.acOnly = false
        XCTAssertEqual(state(facts(), machine { $0.onMains = false }, anyPower), .ready)
        XCTAssertEqual(state(facts(), machine { $0.trainingBusy = true }), .waitingForOtherJob)
        XCTAssertEqual(state(facts(), machine { $0.modelLoaded = false }), .noModel)
        var off = settings
        off.enabled = false
        XCTAssertEqual(state(facts(), machine(), off), .disabled)
    }

    func testFailuresBackOffExponentiallyUpToTheCap() {
        XCTAssertEqual(settings.backoff(afterFailures: 0), 0)
        XCTAssertEqual(settings.backoff(afterFailures: 1), 60)
        XCTAssertEqual(settings.backoff(afterFailures: 3), 240)
        XCTAssertEqual(settings.backoff(afterFailures: 30), 300)
        let failed = facts {
            $0.failures = 2
            $0.lastFailure = now.addingTimeInterval(-100)
        }
        XCTAssertEqual(state(failed), .backingOff(until: now.addingTimeInterval(20), failures: 2))
        XCTAssertEqual(
            state(
                facts {
                    $0.failures = 2; $0.lastFailure = now.addingTimeInterval(-121)
                }), .ready)
    }

    func testTheDailyLimitCountsTheLast24Hours() {
        let twice = facts { $0.recentStarts = [now.addingTimeInterval(-3600), now.addingTimeInterval(-7200)] }
        XCTAssertEqual(state(twice), .dailyLimit(until: now.addingTimeInterval(86_400 - 7200)))
        let yesterday = facts { $0.recentStarts = [now.addingTimeInterval(-3600), now.addingTimeInterval(-90_000)] }
        XCTAssertEqual(state(yesterday), .ready)
    }

    func testPowerSuppliesAsTheKernelReportsThem() throws {
        let root = NSTemporaryDirectory() + "power-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: root) }
        func supply(_ name: String, _ files: [String: String]) throws {
            try FileManager.default.createDirectory(atPath: root + "/" + name, withIntermediateDirectories: true)
            for (file, value) in files {
                try Data((value + "\n").utf8).write(to: URL(fileURLWithPath: root + "/" + name + "/" + file))
            }
        }
        let power = SysfsPowerSource(directory: root)
        XCTAssertNil(SysfsPowerSource(directory: root + "/none").onMains(), "no report: a desktop or a VM")
        try supply("hidpp_battery_0", ["type": "Battery", "scope": "Device", "status": "Discharging"])
        XCTAssertNil(power.onMains(), "a mouse's battery does not power the machine")
        try supply("BAT0", ["type": "Battery", "status": "Discharging"])
        XCTAssertEqual(power.onMains(), false)
        try supply("AC", ["type": "Mains", "online": "0"])
        XCTAssertEqual(power.onMains(), false)
        try supply("AC", ["type": "Mains", "online": "1"])
        try supply("BAT0", ["type": "Battery", "status": "Charging"])
        XCTAssertEqual(power.onMains(), true)
    }

    /// A round with the default settings trains at the model's tuned rates, as the demo does
    /// (it once pinned OPPU at 1e-3 for every model); a rate set in the config wins.
    func testARoundTakesTheModelsTunedRatesUnlessTheConfigSetsOne() throws {
        let smolLM2 = TrainingPreset.ModelShape(architecture: "llama", embeddingLength: 576, layerCount: 30)
        let tuned = try XCTUnwrap(TrainingPreset.tunedValues[smolLM2])
        var request = Jobs.SubmitRequest(kind: "cope", user: "ann", task: "commit_subject")
        request.parameters = AutopilotSettings().parameters
        let spec = try JobSpec(request, shape: smolLM2)
        XCTAssertEqual(spec.sft.learningRate, tuned.oppuLearningRate)
        XCTAssertEqual(spec.dpo.learningRate, tuned.dpoLearningRate)
        XCTAssertEqual(spec.sft.epochs, 1)
        let unknown = TrainingPreset.ModelShape(architecture: "llama", embeddingLength: 64, layerCount: 2)
        XCTAssertEqual(
            try JobSpec(request, shape: unknown).sft.learningRate, TrainingPreset.referenceValues.oppuLearningRate)

        var c = DaemonConfiguration()
        try c.apply(configFile: "autopilot_learning_rate = 0.002", path: "t.conf")
        request.parameters = c.autopilot.parameters
        XCTAssertEqual(try JobSpec(request, shape: smolLM2).sft.learningRate, 0.002)
    }

    func testConfigKeys() throws {
        var c = DaemonConfiguration()
        try c.apply(
            configFile: """
                autopilot = off
                autopilot_min_new_items = 8
                autopilot_idle_seconds = 30
                autopilot_ac_only = false
                autopilot_max_jobs_per_day = 2
                autopilot_holdout = 6
                autopilot_margin = 0.05
                autopilot_loglik_margin = 0.2
                autopilot_backoff_seconds = 10
                autopilot_learning_rate = 0.001
                """, path: "t.conf")
        XCTAssertFalse(c.autopilot.enabled)
        XCTAssertEqual(c.autopilot.minNewItems, 8)
        XCTAssertEqual(c.autopilot.idleSeconds, 30)
        XCTAssertFalse(c.autopilot.acOnly)
        XCTAssertEqual(c.autopilot.maxJobsPerDay, 2)
        XCTAssertEqual(c.autopilot.holdout, 6)
        XCTAssertEqual(c.autopilot.gate.margin, 0.05)
        XCTAssertEqual(c.autopilot.gate.logLikelihoodMargin, 0.2)
        XCTAssertEqual(c.autopilot.backoffSeconds, 10)
        XCTAssertEqual(c.autopilot.parameters.learningRate, 0.001)
        XCTAssertThrowsError(try c.apply(configFile: "autopilot = maybe", path: "t.conf")) { e in
            XCTAssertEqual("\(e)", "t.conf:1: autopilot must be on or off, not 'maybe'")
        }
        XCTAssertThrowsError(try c.apply(configFile: "autopilot_holdout = 0", path: "t.conf")) { e in
            XCTAssertEqual("\(e)", "t.conf:1: autopilot_holdout must be an integer in 1...256, not '0'")
        }
    }
}
