import Foundation
import TailorEngine

/// Owns calloc'd f32 buffers planned once; everything is freed together in deinit.
final class ScratchArena {
    private var blocks: [UnsafeMutableRawPointer] = []  // calloc'd; freed in deinit

    deinit { for b in blocks { free(b) } }

    /// `count` zeroed floats.
    func floats(_ count: Int) -> UnsafeMutablePointer<Float> {
        guard let p = calloc(max(1, count), MemoryLayout<Float>.size) else {
            fatalError("training scratch: out of memory")
        }
        blocks.append(p)
        return p.assumingMemoryBound(to: Float.self)
    }

    /// `count` zeroed bytes.
    func bytes(_ count: Int) -> UnsafeMutableRawPointer {
        UnsafeMutableRawPointer(floats((count + 3) / 4))
    }
}

/// What one block's backward pass needs from its forward pass, for up to `n` tokens of one
/// sequence. Shapes are rows × columns; T = the graph's maxTokens.
final class BlockActivations {
    let xn1: UnsafeMutablePointer<Float>  // T × d        attention-normed input
    let rstd1: UnsafeMutablePointer<Float>  // T            its 1/rms
    let qPre: UnsafeMutablePointer<Float>  // T × qDim     q before QK-norm (Gemma 3)
    let kPre: UnsafeMutablePointer<Float>  // T × kvDim
    let rstdQ: UnsafeMutablePointer<Float>  // T × heads
    let rstdK: UnsafeMutablePointer<Float>  // T × kvHeads
    let q: UnsafeMutablePointer<Float>  // T × qDim     after norm and RoPE
    let k: UnsafeMutablePointer<Float>  // T × kvDim
    let v: UnsafeMutablePointer<Float>  // T × kvDim
    let probs: UnsafeMutablePointer<Float>  // T × heads × T   attention probabilities [i][h][key]
    let att: UnsafeMutablePointer<Float>  // T × qDim     attention output (o's input)
    let oOut: UnsafeMutablePointer<Float>  // T × d        o's output (before Gemma's post-norm)
    let rstdO: UnsafeMutablePointer<Float>  // T
    let xMid: UnsafeMutablePointer<Float>  // T × d        residual after attention
    let xn2: UnsafeMutablePointer<Float>  // T × d        FFN-normed
    let rstd2: UnsafeMutablePointer<Float>  // T
    // A mixture's gate, up and hidden hold T × used rows of one expert's width, in its
    // routing's slot order (each expert's rows together).
    let gate: UnsafeMutablePointer<Float>  // T × ffn      before the activation
    let up: UnsafeMutablePointer<Float>  // T × ffn
    let hidden: UnsafeMutablePointer<Float>  // T × ffn      act(gate) ⊙ up (down's input)
    let routing: ExpertRouting  // T × used slots: a mixture's choices (1 slot in a dense model)
    let downOut: UnsafeMutablePointer<Float>  // T × d        down's output (before Gemma's post-norm)
    let rstdD: UnsafeMutablePointer<Float>  // T
    let loraU: UnsafeMutablePointer<Float>  // 7 × T × rank  A·x of each trained projection

    init(arena a: ScratchArena, config c: ModelConfig, tokens t: Int, rank: Int) {
        let d = c.embeddingLength, f = c.activeFeedForwardWidth
        xn1 = a.floats(t * d); rstd1 = a.floats(t)
        let qk = c.hasQKNorm
        qPre = a.floats(qk ? t * c.qDim : 1); kPre = a.floats(qk ? t * c.kvDim : 1)
        rstdQ = a.floats(qk ? t * c.headCount : 1); rstdK = a.floats(qk ? t * c.kvHeadCount : 1)
        q = a.floats(t * c.qDim); k = a.floats(t * c.kvDim); v = a.floats(t * c.kvDim)
        probs = a.floats(t * c.headCount * t)
        att = a.floats(t * c.qDim)
        oOut = a.floats(t * d); rstdO = a.floats(t)
        xMid = a.floats(t * d)
        xn2 = a.floats(t * d); rstd2 = a.floats(t)
        gate = a.floats(t * f); up = a.floats(t * f); hidden = a.floats(t * f)
        downOut = a.floats(t * d); rstdD = a.floats(t)
        routing = ExpertRouting(config: c, rows: t, bytes: a.bytes)
        loraU = a.floats(LoRATarget.allCases.count * t * max(1, rank))
    }

    /// The A·x buffer of `target` (T × rank).
    func u(_ target: LoRATarget, tokens t: Int, rank: Int) -> UnsafeMutablePointer<Float> {
        loraU + TrainableLoRA.order(target) * t * max(1, rank)
    }
}
