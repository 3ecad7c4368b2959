import CTailorKernels

/// A weight matrix used in place from the mapped GGUF: `rows` outputs × `cols` inputs, each row
/// `cols` values in the quantized blocks of `type`. GGUF's first dimension is `cols`.
public struct Linear: @unchecked Sendable {
    /// The tensor's GGUF name, for error messages.
    public let name: String
    /// The ggml type of the data.
    public let type: GGMLType
    /// Output dimension (rows of W).
    public let rows: Int
    /// Input dimension (GGUF's ne[0]).
    public let cols: Int
    /// rows × rowBytes bytes inside the file mapping; owned by the model's `GGUFFile`.
    public let data: UnsafeRawPointer

    /// Bytes of one row.
    public var rowBytes: Int { type.rowBytes(cols) }

    /// Dequantizes rows `range` into `out` (range.count × cols floats).
    public func dequantize(rows range: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        tk_dequantize(
            Int32(type.rawValue), data.advanced(by: range.lowerBound * rowBytes), out, Int64(range.count * cols))
    }
}

/// Looks tensors up in a GGUF file and checks their shapes, naming the tensor on failure.
struct TensorBinder {
    let file: GGUFFile

    func linear(_ name: String, rows: Int, cols: Int) throws -> Linear {
        guard let t = file.tensor(name) else { throw GGUFError.missingTensor(path: file.path, tensor: name) }
        guard t.dims.count == 2, t.dims[0] == cols, t.dims[1] == rows else {
            throw GGUFError.tensorShapeMismatch(path: file.path, tensor: name, expected: [cols, rows], found: t.dims)
        }
        return Linear(name: name, type: t.type, rows: rows, cols: cols, data: file.data(of: t))
    }

    /// Consecutive row slices of one fused matrix (Phi-3's `attn_qkv`, `ffn_up`), each a
    /// `Linear` over its rows of the mapping: the forward and backward passes, LoRA and merging
    /// then see separate projections, and no weight is copied.
    func rowSlices(_ name: String, rows: [Int], cols: Int) throws -> [Linear] {
        let whole = try linear(name, rows: rows.reduce(0, +), cols: cols)
        var start = 0
        return rows.map { n in
            defer { start += n }
            return Linear(
                name: "\(name)[\(start)..<\(start + n)]", type: whole.type, rows: n, cols: cols,
                data: whole.data.advanced(by: start * whole.rowBytes))
        }
    }

    /// The `count` matrices (each `rows` × `cols`) of a stacked 3-D tensor (GGUF dims
    /// [cols, rows, count]), as llama.cpp stores a mixture's experts: one `Linear` per matrix
    /// over its part of the mapping.
    func stacked(_ name: String, count: Int, rows: Int, cols: Int) throws -> [Linear] {
        guard let t = file.tensor(name) else { throw GGUFError.missingTensor(path: file.path, tensor: name) }
        guard t.dims == [cols, rows, count] else {
            throw GGUFError.tensorShapeMismatch(
                path: file.path, tensor: name, expected: [cols, rows, count], found: t.dims)
        }
        let data = file.data(of: t), bytes = rows * t.type.rowBytes(cols)
        return (0..<count).map { e in
            Linear(name: "\(name)[\(e)]", type: t.type, rows: rows, cols: cols, data: data.advanced(by: e * bytes))
        }
    }

    func optionalLinear(_ name: String, rows: Int, cols: Int) throws -> Linear? {
        file.tensor(name) == nil ? nil : try linear(name, rows: rows, cols: cols)
    }

    /// A 1-D tensor (norm weight, bias) dequantized into f32.
    func vector(_ name: String, count: Int) throws -> [Float] {
        guard let t = file.tensor(name) else { throw GGUFError.missingTensor(path: file.path, tensor: name) }
        guard t.elementCount == count, t.dims.count == 1 else {
            throw GGUFError.tensorShapeMismatch(path: file.path, tensor: name, expected: [count], found: t.dims)
        }
        var out = [Float](repeating: 0, count: count)
        out.withUnsafeMutableBufferPointer { buf in
            tk_dequantize(Int32(t.type.rawValue), file.data(of: t), buf.baseAddress, Int64(count))
        }
        return out
    }

    func optionalVector(_ name: String, count: Int) throws -> [Float]? {
        file.tensor(name) == nil ? nil : try vector(name, count: count)
    }
}
