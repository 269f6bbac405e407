/// Where a tensor's bytes live: ordinary host memory, or a GPU's memory.
///
/// A runner states which memory it accepts (`InferenceRunner.inputMemory`); a preprocessor that
/// can produce its output on the GPU hands it over there when the runner accepts it, and
/// otherwise downloads it exactly once.
public enum TensorMemory: String, Sendable, Equatable, CustomStringConvertible {
    /// Host memory: `Tensor.bytes`.
    case host
    /// Device memory: a `DeviceTensor`'s address on a GPU.
    case device

    /// The memory's name (`host`, `device`).
    public var description: String { rawValue }
}
