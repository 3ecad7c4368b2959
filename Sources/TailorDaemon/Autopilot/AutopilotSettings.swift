import Foundation
import TailorJobs
import TailorWire

/// When and how the autopilot trains: the `autopilot*` keys of tailord.conf.
public struct AutopilotSettings: Sendable, Equatable {
    /// `autopilot = on|off`.
    public var enabled = true
    /// `autopilot_min_new_items`: new history items and pairs (imported, or from accepted and
    /// edited feedback) since the data the current version saw, before a new round.
    public var minNewItems = 16
    /// `autopilot_idle_seconds`: no generation for this long before a round starts.
    public var idleSeconds: Double = 120
    /// `autopilot_ac_only`: start a round only on mains power (when the machine reports it).
    public var acOnly = true
    /// `autopilot_max_jobs_per_day`: rounds per user (over all their tasks) in any 24 hours.
    public var maxJobsPerDay = 4
    /// `autopilot_holdout`: the user's newest items held back to judge the candidate.
    public var holdout = 4
    /// `autopilot_margin` and `autopilot_loglik_margin`: the gate's tolerances.
    public var gate = PromotionGate()
    /// `autopilot_check_seconds`: how often the scheduler looks.
    public var checkSeconds: Double = 30
    /// `autopilot_backoff_seconds` and `autopilot_backoff_max_seconds`: after n failed rounds
    /// in a row the next waits min(max, base · 2ⁿ⁻¹).
    public var backoffSeconds: Double = 900
    public var backoffMaxSeconds: Double = 86_400
    /// `autopilot_power_supply_dir`: where the kernel reports power supplies.
    public var powerSupplyDirectory = "/sys/class/power_supply"
    /// `autopilot_learning_rate` (OPPU's; DPO's is 1/20 of it), `autopilot_epochs`,
    /// `autopilot_samples`: the rounds' training parameters. One epoch, as the demo trains;
    /// the rates unset, so a round takes the model's tuned preset (`TrainingPreset`) as the
    /// demo does: on SmolLM2 they scored at least as well as the 1e-3 both used before, with
    /// fewer loops (BENCHMARKS.md, "One set of rates for the demo and the autopilot"; the
    /// intervals include 0), and the reference's 1e-4 over two epochs moved
    /// SmolLM2's held-out log-likelihood by 0.07 nats per token in BENCHMARKS' autopilot run.
    public var parameters: Jobs.Parameters = {
        var p = Jobs.Parameters()
        p.epochs = 1
        return p
    }()

    /// The defaults.
    public init() {}

    /// Applies one config key; false when it is not an autopilot key.
    /// - Throws: `ConfigProblem` for a bad value.
    mutating func apply(key: String, value: String) throws -> Bool {
        let v = ConfigValue(key: key, text: value)
        switch key {
        case "autopilot": enabled = try v.flag()
        case "autopilot_min_new_items": minNewItems = try v.int(1...1 << 20)
        case "autopilot_idle_seconds": idleSeconds = try v.number(0...86_400)
        case "autopilot_ac_only": acOnly = try v.flag()
        case "autopilot_max_jobs_per_day": maxJobsPerDay = try v.int(1...1440)
        case "autopilot_holdout": holdout = try v.int(1...256)
        case "autopilot_margin": gate.margin = try v.number(0...1)
        case "autopilot_loglik_margin": gate.logLikelihoodMargin = try v.number(0...100)
        case "autopilot_check_seconds": checkSeconds = try v.number(0.1...3600)
        case "autopilot_backoff_seconds": backoffSeconds = try v.number(0...86_400)
        case "autopilot_backoff_max_seconds": backoffMaxSeconds = try v.number(0...30 * 86_400)
        case "autopilot_power_supply_dir": powerSupplyDirectory = try v.absolutePath()
        case "autopilot_learning_rate": parameters.learningRate = Float(try v.number(1e-9...0.999))
        case "autopilot_epochs": parameters.epochs = UInt32(try v.int(1...100))
        case "autopilot_samples": parameters.samples = UInt32(try v.int(1...64))
        default: return false
        }
        return true
    }

    /// The wait before the next round after `failures` failed ones in a row.
    func backoff(afterFailures failures: Int) -> Double {
        guard failures > 0 else { return 0 }
        return min(backoffMaxSeconds, backoffSeconds * pow(2, Double(min(failures - 1, 40))))
    }
}
