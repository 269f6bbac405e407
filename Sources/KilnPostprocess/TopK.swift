import Foundation
import KilnCore

/// Classification postprocessing: the k most probable classes per image.
public struct TopK: Sendable {
    /// How many classes to report.
    public var k: Int
    /// Apply softmax first (for models that output logits); nil decides per row: softmax unless
    /// the row already is a probability distribution (all in [0, 1], summing to ≈1).
    public var softmax: Bool?

    /// Creates a top-k decoder.
    public init(k: Int = 5, softmax: Bool? = nil) {
        self.k = k
        self.softmax = softmax
    }

    /// Decodes `[N, C]` (or `[N, C, 1, 1]`, or `[C]`) scores into the top k per image.
    public func decode(_ output: Tensor, labels: [String] = []) throws -> [[Classification]] {
        let shape = output.shape
        let squeezed = shape.filter { $0 != 1 }
        let n: Int, c: Int
        if shape.count == 1 { (n, c) = (1, shape[0]) }
        else if shape.count >= 2, shape.dropFirst(2).allSatisfy({ $0 == 1 }) { (n, c) = (shape[0], shape[1]) }
        else if squeezed.count == 1 { (n, c) = (1, squeezed[0]) }
        else {
            throw PostprocessError("classification output of shape \(shape): expected [N, C] (or [N, C, 1, 1])")
        }
        let values = output.floatValues()
        guard values.count == n * c, c > 0 else {
            throw PostprocessError("classification output of shape \(shape) and type \(output.elementType) cannot be read as scores")
        }
        return (0..<n).map { image in
            var row = Array(values[(image * c)..<((image + 1) * c)])
            let isDistribution = row.allSatisfy { $0 >= 0 && $0 <= 1 } && abs(row.reduce(0, +) - 1) < 1e-3
            if softmax ?? !isDistribution {
                let m = row.max() ?? 0
                var sum: Float = 0
                for i in row.indices { row[i] = expf(row[i] - m); sum += row[i] }
                for i in row.indices { row[i] /= sum }
            }
            let order = row.indices.sorted { row[$0] != row[$1] ? row[$0] > row[$1] : $0 < $1 }
            return order.prefix(k).map { Classification(classId: $0, label: $0 < labels.count ? labels[$0] : nil, score: row[$0]) }
        }
    }
}
