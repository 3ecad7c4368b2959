import Foundation

/// A trainer's state between optimizer steps: the adapter's parameters, AdamW's moments and the
/// step count (the data order and learning rate follow from the step and the seed). Resuming
/// from it continues exactly as the uninterrupted run would have.
///
/// Serialized as "TLCK", a little-endian u32 format version, a u32 header length, a JSON header
/// (step, optimizer steps, parameter count, configuration), then parameters, m and v as f32.
public struct TrainingCheckpoint: Sendable, Equatable {
    public var step: Int
    public var optimizerSteps: Int
    public var configuration: TrainingConfiguration
    public var params: [Float]
    public var m: [Float]
    public var v: [Float]

    static let magic: [UInt8] = Array("TLCK".utf8)
    static let version: UInt32 = 1

    private struct Header: Codable {
        var step: Int
        var optimizerSteps: Int
        var count: Int
        var configuration: TrainingConfiguration
    }

    /// The bytes of a checkpoint file.
    public func encoded() throws -> [UInt8] {
        let header = try JSONEncoder().encode(
            Header(step: step, optimizerSteps: optimizerSteps, count: params.count, configuration: configuration))
        var out = Self.magic
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
        u32(Self.version)
        u32(UInt32(header.count))
        out += header
        for array in [params, m, v] { array.withUnsafeBytes { out += $0 } }
        return out
    }

    /// Parses a checkpoint file.
    /// - Throws: `TrainingError.badHyperparameter` naming what is wrong with the bytes.
    public init(decoding bytes: [UInt8]) throws {
        func fail(_ m: String) -> TrainingError { .badHyperparameter("checkpoint: \(m)") }
        guard bytes.count >= 12, Array(bytes[0..<4]) == Self.magic else {
            throw fail("not a Tailor training checkpoint")
        }
        func u32(_ at: Int) -> UInt32 {
            bytes[at..<(at + 4)].withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) }
        }
        guard u32(4) == Self.version else { throw fail("format version \(u32(4)) is not \(Self.version)") }
        let hlen = Int(u32(8))
        guard bytes.count >= 12 + hlen,
            let header = try? JSONDecoder().decode(Header.self, from: Data(bytes[12..<(12 + hlen)]))
        else {
            throw fail("the header is damaged")
        }
        let n = header.count, start = 12 + hlen
        guard n >= 0, bytes.count == start + 3 * n * 4 else {
            throw fail("expected \(3 * n) floats after the header, found \((bytes.count - start) / 4)")
        }
        func floats(_ k: Int) -> [Float] {
            bytes[(start + k * n * 4)..<(start + (k + 1) * n * 4)].withUnsafeBytes {
                Array($0.bindMemory(to: Float.self))
            }
        }
        self.init(
            step: header.step, optimizerSteps: header.optimizerSteps, configuration: header.configuration,
            params: floats(0), m: floats(1), v: floats(2))
    }

    /// A checkpoint of the given state.
    public init(
        step: Int, optimizerSteps: Int, configuration: TrainingConfiguration, params: [Float], m: [Float], v: [Float]
    ) {
        self.step = step
        self.optimizerSteps = optimizerSteps
        self.configuration = configuration
        self.params = params
        self.m = m
        self.v = v
    }
}

extension LoRATrainer {
    /// The state after the last step.
    public func checkpoint() -> TrainingCheckpoint {
        let s = optimizer.state()
        return TrainingCheckpoint(
            step: step, optimizerSteps: s.steps, configuration: configuration,
            params: Array(UnsafeBufferPointer(start: trainable.params, count: trainable.count)), m: s.m, v: s.v)
    }

    /// Continues from `checkpoint`, which must come from a run with the same configuration and
    /// adapter shape.
    public func resume(from checkpoint: TrainingCheckpoint) throws {
        guard checkpoint.configuration == configuration else {
            throw TrainingError.badHyperparameter("checkpoint: it was made with other hyperparameters")
        }
        guard checkpoint.params.count == trainable.count, checkpoint.step <= totalSteps else {
            throw TrainingError.badHyperparameter(
                """
                checkpoint: it holds \(checkpoint.params.count) parameters at step \(checkpoint.step); this run \
                has \(trainable.count) and \(totalSteps) steps
                """
            )
        }
        checkpoint.params.withUnsafeBufferPointer {
            trainable.params.update(from: $0.baseAddress!, count: trainable.count)
        }
        try optimizer.restore(steps: checkpoint.optimizerSteps, m: checkpoint.m, v: checkpoint.v)
        setStep(checkpoint.step)
    }
}
