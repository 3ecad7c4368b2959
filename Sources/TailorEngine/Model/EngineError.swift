/// Errors of the forward pass and generation: bad requests, not bad files.
public enum EngineError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A sequence would grow past the context's capacity.
    case contextFull(sequence: Int, needed: Int, capacity: Int)
    /// A token id outside the vocabulary.
    case invalidToken(id: Int32, vocabSize: Int)
    /// More tokens, or more logit rows, in one forward call than the context was planned for.
    case batchTooLarge(tokens: Int, capacity: Int)
    /// A sequence index outside `0..<maxSequences`, or listed twice in one batch.
    case invalidSequence(Int)
    /// An empty batch or an empty prompt.
    case emptyInput
    /// An adapter that does not fit the model (shapes, layers) or the context (rank).
    case adapterMismatch(String)
    /// Every slot of a `BatchDecoder` holds a generation.
    case noFreeSlot
    /// A request whose settings cannot run, e.g. zero tokens to generate.
    case invalidRequest(String)

    /// A message naming the problem, for logs and CLI output.
    public var description: String {
        switch self {
        case let .contextFull(s, n, c): return "sequence \(s) needs \(n) positions, the context holds \(c)"
        case let .invalidToken(id, v): return "token id \(id) is outside the vocabulary (size \(v))"
        case let .batchTooLarge(n, c): return "batch of \(n) exceeds the planned capacity \(c)"
        case let .invalidSequence(s): return "invalid or repeated sequence index \(s)"
        case .emptyInput: return "empty input: nothing to evaluate"
        case let .adapterMismatch(m): return m
        case .noFreeSlot: return "every decoding slot is busy"
        case let .invalidRequest(m): return m
        }
    }
}
