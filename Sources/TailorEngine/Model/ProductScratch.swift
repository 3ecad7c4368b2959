import CTailorKernels

/// What a product of activations by quantized weights needs on any prefill path, planned once
/// by its owner (an inference context, a training graph, the path probe) and lent to
/// `multiply`, the one place that turns a `PrefillPath` into a kernel call.
package struct ProductScratch {
    /// The owner's thread pool (tk_pool); nil runs on the calling thread.
    package let pool: OpaquePointer?
    /// threads × tileRows × the widest row: each thread's dequantized weight tile.
    package let tiles: UnsafeMutablePointer<Float>
    /// Weight rows per tile.
    package let tileRows: Int
    /// `tk_matmul`'s int16 activations, sized by `tk_matmul_scratch_size` for the owner's rows.
    package let quantized: UnsafeMutableRawPointer
    /// rows × the widest row: the bf16 path's rounded activations.
    package let halves: UnsafeMutablePointer<UInt16>

    package init(
        pool: OpaquePointer?, tiles: UnsafeMutablePointer<Float>, tileRows: Int, quantized: UnsafeMutableRawPointer,
        halves: UnsafeMutablePointer<UInt16>
    ) {
        self.pool = pool
        self.tiles = tiles
        self.tileRows = tileRows
        self.quantized = quantized
        self.halves = halves
    }

    /// Y[n × rows] = X·Wᵀ over the first `rows` rows of `lin` (all by default), X's rows
    /// `lin.cols` apart and Y's `rows` apart, by `path`. `exact` makes the integer path's
    /// activations f32 (the other paths ignore it).
    package func multiply(
        _ lin: Linear, by path: PrefillPath, x: UnsafePointer<Float>, n: Int, y: UnsafeMutablePointer<Float>,
        rows: Int? = nil, exact: Bool = false
    ) {
        let type = Int32(lin.type.rawValue), m = Int64(rows ?? lin.rows), cols = Int64(lin.cols)
        switch path {
        case .float:
            tk_matmul_gemm(pool, type, lin.data, m, cols, x, cols, Int64(n), y, m, tiles, Int64(tileRows), false)
        case .integer:
            tk_matmul(pool, type, lin.data, m, cols, x, cols, Int64(n), y, m, quantized, exact)
        case .bfloat16:
            tk_matmul_gemm_bf16(
                pool, type, lin.data, m, cols, x, cols, Int64(n), y, m, tiles, Int64(tileRows), halves, false)
        }
    }
}
