import Foundation
import TailorEngine
import TailorTraining

extension JobSpec {
    /// The job's hyperparameters as Hugging Face's libraries spell them, for a team that runs
    /// the same pipeline on a cluster with PEFT and TRL (`tailor train --print-config`):
    /// `peft` holds `LoraConfig`'s arguments, `sft` `SFTConfig`'s (TAM, OPPU), `dpo`
    /// `DPOConfig`'s, `negatives` the sampling that makes DPO's rejected texts. Tailor trains
    /// with AdamW as torch's, a linear schedule with warmup, no dropout, the loss on the
    /// completion only, and DPO's sigmoid loss against the adapters below the user's (base +
    /// task adapter: a PEFT model with its adapter disabled, the task adapter merged).
    /// - Parameter model: the model's configuration, when known: PEFT names modules per
    ///   architecture, and Phi-3's are fused (q and v make `qkv_proj`, which PEFT adapts whole).
    ///   Without it the targets are named as Llama's, Qwen's and Gemma's modules are.
    /// - Throws: `TrainingError` for an unknown LoRA target.
    public func huggingFaceConfigs(model: ModelConfig? = nil) throws -> [String: Any] {
        // A Float as its shortest decimal (1e-4, not 9.999999747378752e-05).
        func d(_ f: Float) -> Double { Double("\(f)") ?? Double(f) }
        func trainer(_ c: TrainingConfiguration) -> [String: Any] {
            [
                "learning_rate": d(c.learningRate), "num_train_epochs": c.epochs,
                "per_device_train_batch_size": c.batchSize, "gradient_accumulation_steps": c.gradientAccumulation,
                // transformers 5 reads a float in [0, 1) as the warmup's fraction of the steps
                // (`warmup_ratio` is gone).
                "warmup_steps": c.warmupRatio, "weight_decay": d(c.weightDecay),
                "max_grad_norm": d(c.maxGradNorm), "seed": Int(c.seed), "lr_scheduler_type": "linear",
                "optim": "adamw_torch", "adam_beta1": 0.9, "adam_beta2": 0.999, "adam_epsilon": 1e-8,
                "max_length": maxTokens,
            ]
        }
        let stages = kind.stages
        var out: [String: Any] = ["kind": kind.rawValue]
        if stages.contains(.tam) || stages.contains(.oppu) || stages.contains(.dpo) {
            let targets = try sft.loraTargets()
            let modules = model.map { $0.loraModules(covering: targets).map(\.peftName) } ?? targets.map(\.peftName)
            out["peft"] = [
                "peft_type": "LORA", "task_type": "CAUSAL_LM", "r": sft.rank, "lora_alpha": d(sft.alpha),
                "lora_dropout": 0.0, "bias": "none", "target_modules": modules,
            ]
        }
        if stages.contains(.tam) || stages.contains(.oppu) {
            var c = trainer(sft)
            c["completion_only_loss"] = true
            out["sft"] = c
        }
        if stages.contains(.negatives) {
            out["negatives"] = [
                "num_samples": negatives.samples, "temperature": d(negatives.temperature),
                "top_p": d(negatives.topP), "max_new_tokens": negatives.maxNewTokens,
                "alpha": d(negatives.alpha), "length_normalized": negatives.lengthNormalized,
                "seed": Int(negatives.seed),
                "rule": "sample num_samples outputs from base + task adapter; keep the lowest "
                    + "sum(log p_user) - alpha * sum(log p_base) (per-token means when length_normalized)",
            ]
        }
        if stages.contains(.dpo) {
            var c = trainer(dpo)
            c["beta"] = d(dpo.beta)
            c["loss_type"] = "sigmoid"
            out["dpo"] = c
        }
        return out
    }
}
