import KilnCore

extension ONNXModel {
    /// The same model with every other element of each float32 initializer changed (to −1.5·w + 0.25):
    /// what an engine that no longer matches its ONNX computes. `kiln selftest` and the accuracy
    /// gate's tests build it to prove that a mismatching engine is refused.
    public func alteringFloatWeights() throws(ONNXError) -> ONNXModel {
        var model = self
        var changed = 0
        for k in model.graph.initializers.indices where model.graph.initializers[k].tensor.elementType == .float32 {
            var values = model.graph.initializers[k].tensor.values(as: Float.self)
            guard values.count > 1 else { continue }
            for i in stride(from: 0, to: values.count, by: 2) { values[i] = -1.5 * values[i] + 0.25 }
            model.graph.initializers[k].tensor = Tensor(shape: model.graph.initializers[k].tensor.shape, floats: values)
            changed += 1
        }
        guard changed > 0 else { throw ONNXError("model \(graph.name) has no float32 weights with more than one element to alter", offset: nil) }
        return model
    }
}
