import Foundation

/// Keys and values of every layer for a fixed number of sequences, each with its own length.
///
/// Layout per layer: K and V are [maxSequences][kvHeads][maxContext][headDim] f32 (head-major),
/// allocated once here and freed in deinit. A sequence's positions 0..<length are valid; growing
/// it writes the next ones. Head-major because decode attention reads one KV head's keys and
/// values from the first position to the last: contiguous, that is one stream the hardware
/// prefetcher follows; position-major, it is headDim floats every kvDim, which the prefetcher
/// loses at every page and a long context then waits on DRAM for (at 1,000 positions SmolLM2's
/// attention took 11.4 ms a token that way, 5.2 ms head-major).
public final class KVCache {
    /// Transformer blocks cached.
    public let layers: Int
    /// Sequences (rows) with their own cache.
    public let maxSequences: Int
    /// Positions per sequence.
    public let maxContext: Int
    /// Floats per position per layer for K (and again for V): kvHeads × headDim.
    public let kvDim: Int
    /// Key/value heads, and floats per head.
    public let kvHeads: Int
    public let headDim: Int
    /// Floats between one KV head's positions and the next head's, in a sequence's block.
    public var headStride: Int { maxContext * headDim }
    /// Valid positions of each sequence.
    public internal(set) var lengths: [Int]
    private let storage: UnsafeMutablePointer<Float>  // [layers][2][maxSequences][kvHeads][maxContext][headDim]

    init(layers: Int, maxSequences: Int, maxContext: Int, kvHeads: Int, headDim: Int) {
        self.layers = layers
        self.maxSequences = maxSequences
        self.maxContext = maxContext
        self.kvHeads = kvHeads
        self.headDim = headDim
        kvDim = kvHeads * headDim
        lengths = Array(repeating: 0, count: maxSequences)
        // calloc: a large zeroed allocation is mapped lazily, so positions never reached cost no
        // resident memory (a 2048-position context used for 100 tokens holds ~5% of its size).
        let count = layers * 2 * maxSequences * maxContext * kvDim
        guard let raw = calloc(count, MemoryLayout<Float>.size) else {
            fatalError("KV cache: out of memory (\(count * 4) bytes)")
        }
        storage = raw.assumingMemoryBound(to: Float.self)
    }

    deinit { free(storage) }

    /// Bytes held by the cache.
    public var byteCount: Int { layers * 2 * maxSequences * maxContext * kvDim * MemoryLayout<Float>.size }

    /// Sequence `seq`'s keys (`isValue == false`) or values in `layer`: head h's position p is at
    /// h·headStride + p·headDim.
    func base(layer: Int, value isValue: Bool, sequence seq: Int) -> UnsafeMutablePointer<Float> {
        storage + (((layer * 2 + (isValue ? 1 : 0)) * maxSequences + seq) * maxContext) * kvDim
    }

    /// Forgets sequence `seq` beyond `length` positions (keeps a shared prefix for reuse).
    public func truncate(sequence seq: Int, to length: Int) {
        precondition(seq >= 0 && seq < maxSequences)
        lengths[seq] = min(lengths[seq], max(0, length))
    }

    /// Writes `count` positions of sequence `seq` in `layer`, starting at `position`, from
    /// position-major rows (`keys` and `values`: [count][kvDim], as the projections produce them).
    func store(
        layer: Int, sequence seq: Int, position: Int, count: Int, keys: UnsafePointer<Float>,
        values: UnsafePointer<Float>
    ) {
        func scatter(_ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>) {
            for h in 0..<kvHeads {
                let head = dst + h * headStride + position * headDim
                for t in 0..<count { (head + t * headDim).update(from: src + t * kvDim + h * headDim, count: headDim) }
            }
        }
        scatter(keys, into: base(layer: layer, value: false, sequence: seq))
        scatter(values, into: base(layer: layer, value: true, sequence: seq))
    }

    /// Copies the first `length` positions of sequence `from` into sequence `to` (all layers),
    /// so a second row (e.g. CoPe's base row) starts from the same prefix without recomputing it.
    public func copyPrefix(from: Int, to: Int, length: Int) {
        precondition(length <= lengths[from])
        for l in 0..<layers {
            for isValue in [false, true] {
                let src = base(layer: l, value: isValue, sequence: from),
                    dst = base(layer: l, value: isValue, sequence: to)
                for h in 0..<kvHeads {
                    (dst + h * headStride).update(from: src + h * headStride, count: length * headDim)
                }
            }
        }
        lengths[to] = length
    }
}
