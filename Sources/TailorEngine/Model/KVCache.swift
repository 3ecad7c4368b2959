import Foundation

/// Keys and values of every layer for a fixed number of sequences, each with its own length.
///
/// Layout per layer: K and V are [maxSequences][maxContext][kvDim] f32, allocated once here and
/// freed in deinit. A sequence's rows 0..<length are valid; growing it writes the next rows.
public final class KVCache {
    /// Transformer blocks cached.
    public let layers: Int
    /// Sequences (rows) with their own cache.
    public let maxSequences: Int
    /// Positions per sequence.
    public let maxContext: Int
    /// Floats per position per layer for K (and again for V).
    public let kvDim: Int
    /// Valid positions of each sequence.
    public internal(set) var lengths: [Int]
    private let storage: UnsafeMutablePointer<Float>   // [layers][2][maxSequences][maxContext][kvDim]

    init(layers: Int, maxSequences: Int, maxContext: Int, kvDim: Int) {
        self.layers = layers
        self.maxSequences = maxSequences
        self.maxContext = maxContext
        self.kvDim = kvDim
        lengths = Array(repeating: 0, count: maxSequences)
        // calloc: a large zeroed allocation is mapped lazily, so positions never reached cost no
        // resident memory (a 2048-position context used for 100 tokens holds ~5% of its size).
        let count = layers * 2 * maxSequences * maxContext * kvDim
        guard let raw = calloc(count, MemoryLayout<Float>.size) else { fatalError("KV cache: out of memory (\(count * 4) bytes)") }
        storage = raw.assumingMemoryBound(to: Float.self)
    }

    deinit { free(storage) }

    /// Bytes held by the cache.
    public var byteCount: Int { layers * 2 * maxSequences * maxContext * kvDim * MemoryLayout<Float>.size }

    /// Row 0 of sequence `seq`'s keys (`isValue == false`) or values in `layer`.
    func base(layer: Int, value isValue: Bool, sequence seq: Int) -> UnsafeMutablePointer<Float> {
        storage + (((layer * 2 + (isValue ? 1 : 0)) * maxSequences + seq) * maxContext) * kvDim
    }

    /// Forgets sequence `seq` beyond `length` positions (keeps a shared prefix for reuse).
    public func truncate(sequence seq: Int, to length: Int) {
        precondition(seq >= 0 && seq < maxSequences)
        lengths[seq] = min(lengths[seq], max(0, length))
    }

    /// Copies the first `length` positions of sequence `from` into sequence `to` (all layers),
    /// so a second row (e.g. CoPe's base row) starts from the same prefix without recomputing it.
    public func copyPrefix(from: Int, to: Int, length: Int) {
        precondition(length <= lengths[from])
        for l in 0..<layers {
            for isValue in [false, true] {
                base(layer: l, value: isValue, sequence: to)
                    .update(from: base(layer: l, value: isValue, sequence: from), count: length * kvDim)
            }
        }
        lengths[to] = length
    }
}
