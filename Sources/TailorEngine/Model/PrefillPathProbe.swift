import CTailorKernels
import Foundation

/// Times the prefill paths on one layer of a model, on the thread count that will run it.
///
/// One layer's seven projections (q, k, v, o, gate, up, down) carry the shapes and quant types of
/// every layer, so they stand for the whole forward pass; attention and the norms cost the same
/// on every path. Each path that can run here runs once untimed (paging the layer's weights in
/// from the mapping), then in turn, and each keeps its best time. For SmolLM2-135M this takes
/// about 60 ms; a model's measurement is kept for the life of the `Model` (see
/// `Model.prefillMeasurement`).
public enum PrefillPathProbe {
    /// Rows of the measured batch. The paths' ratio moves with the batch (on the Qwen2.5-0.5B
    /// shape float / integer time was 1.07 at 64 rows, 0.89 at 128, 0.80 at 256 and 0.78 at 512),
    /// so the probe measures near a prompt chunk's size.
    public static let rows = 256
    /// Weight rows measured per projection: every path splits a matrix into row slices, so its
    /// first 512 rows time like the rest, and the probe's cost grows with a model's width only
    /// (the Qwen2.5-0.5B shape's layer: ~0.1 s in all).
    public static let weightRows = 512

    /// Measures `layer`'s projections on `threads` threads, `runs` timed runs per path.
    public static func measure(
        model: Model, threads: Int, rows: Int = PrefillPathProbe.rows, layer: Int = 0, runs: Int = 2
    ) -> PrefillMeasurement {
        let block = model.weights.blocks[min(layer, model.weights.blocks.count - 1)]
        let linears: [Linear]
        switch block.feedForward {
        case let .dense(gate, up, down): linears = [block.q, block.k, block.v, block.o, gate, up, down]
        case let .experts(e):  // attention and the first expert: the others are alike
            linears = [block.q, block.k, block.v, block.o, e.gate[0], e.up[0], e.down[0]]
        }
        let maxCols = linears.map(\.cols).max() ?? 1, maxRows = min(linears.map(\.rows).max() ?? 1, weightRows)
        let n = max(1, rows), tileRows = 128
        let pool = tk_pool_create(Int32(max(1, threads)))
        defer { tk_pool_destroy(pool) }
        // Inputs: a deterministic spread of values in [-1, 1), the scale of normed activations.
        var x = [Float](repeating: 0, count: n * maxCols)  // n × maxCols
        for i in x.indices { x[i] = Float((i &* 2_654_435_761) % 2048) / 1024 - 1 }
        let y = UnsafeMutablePointer<Float>.allocate(capacity: n * maxRows)  // n × maxRows
        let tiles = UnsafeMutablePointer<Float>.allocate(capacity: max(1, threads) * tileRows * maxCols)
        let scratchBytes = linears.map { tk_matmul_scratch_size(Int32($0.type.rawValue), Int64($0.cols), Int64(n)) }
        let quantized = UnsafeMutableRawPointer.allocate(byteCount: max(64, scratchBytes.max() ?? 0), alignment: 64)
        let halves = UnsafeMutablePointer<UInt16>.allocate(capacity: n * maxCols)  // n × maxCols
        defer { y.deallocate(); tiles.deallocate(); quantized.deallocate(); halves.deallocate() }
        let scratch = ProductScratch(pool: pool, tiles: tiles, tileRows: tileRows, quantized: quantized, halves: halves)
        let paths = PrefillPath.available

        func run(_ path: PrefillPath) -> Double {
            let start = DispatchTime.now().uptimeNanoseconds
            for lin in linears {
                scratch.multiply(lin, by: path, x: x, n: n, y: y, rows: min(lin.rows, weightRows))
            }
            return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        }
        for path in paths { _ = run(path) }
        var best: [PrefillPath: Double] = [:]
        for _ in 0..<max(1, runs) {
            for path in paths { best[path] = min(best[path] ?? .infinity, run(path)) }
        }
        return PrefillMeasurement(
            rows: n, floatSeconds: best[.float]!, integerSeconds: best[.integer]!, bfloat16Seconds: best[.bfloat16])
    }
}
