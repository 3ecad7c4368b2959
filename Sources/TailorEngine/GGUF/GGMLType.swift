import CTailorKernels

/// The ggml tensor types a GGUF file may declare. Tailor computes with the subset for which
/// `isSupported` is true; the rest are named so that errors can say what a file holds.
public enum GGMLType: UInt32, Sendable, CaseIterable {
    case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q8_1 = 9
    case q2_K = 10, q3_K = 11, q4_K = 12, q5_K = 13, q6_K = 14, q8_K = 15
    case iq2_xxs = 16, iq2_xs = 17, iq3_xxs = 18, iq1_s = 19, iq4_nl = 20, iq3_s = 21, iq2_s = 22, iq4_xs = 23
    case i8 = 24, i16 = 25, i32 = 26, i64 = 27, f64 = 28, iq1_m = 29, bf16 = 30
    case tq1_0 = 34, tq2_0 = 35, mxfp4 = 39

    /// The name llama.cpp uses (Q4_K, BF16, ...).
    public var name: String { String(describing: self).uppercased() }

    /// True when the engine has a dequantizer and dot product for this type.
    public var isSupported: Bool { tk_type_supported(Int32(rawValue)) }

    /// Elements per block (1 for plain floats). Zero for unsupported types.
    public var blockSize: Int { Int(tk_block_size(Int32(rawValue))) }

    /// Bytes per block. Zero for unsupported types.
    public var blockBytes: Int { Int(tk_type_size(Int32(rawValue))) }

    /// Bytes of one row of `count` elements, which must be a multiple of `blockSize`.
    public func rowBytes(_ count: Int) -> Int { count / blockSize * blockBytes }
}
