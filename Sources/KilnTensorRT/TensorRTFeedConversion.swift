import KilnCore

/// Fits a feed of the ONNX model's type to the type the TensorRT engine's input has (finding 13).
///
/// TensorRT 8's ONNX parser demotes INT64 inputs to INT32 and DOUBLE inputs to FLOAT
/// (onnx-tensorrt 8.6 `onnx2trt_utils.cpp`: `INT64 → kINT32`, `DOUBLE → kFLOAT`), so a caller that
/// feeds the model's own types (golden data, `kiln verify`) would be refused. Such feeds are
/// converted when every value survives: int64 values must lie in Int32's range, finite doubles must
/// stay finite as floats (NaN and ±inf pass through). TensorRT 9 and later keep INT64 (and have no
/// DOUBLE inputs), so any other type difference is refused with the input's name.
public enum TensorRTFeedConversion {
    /// `tensor` as `engineType` for input `input` of an engine built by TensorRT `version`.
    public static func convert(_ tensor: Tensor, to engineType: ElementType, input: String,
                               version: TensorRTVersion) throws(TensorRTError) -> Tensor {
        if tensor.elementType == engineType { return tensor }
        let demoting = version.major < 9
        switch (tensor.elementType, engineType) {
        case (.int64, .int32) where demoting:
            let values = tensor.values(as: Int64.self)
            if let k = values.firstIndex(where: { $0 < Int64(Int32.min) || $0 > Int64(Int32.max) }) {
                throw TensorRTError(.invalidArgument,
                    "TensorRT: input '\(input)' is int64 and TensorRT \(version) runs it as int32, but element \(k) is \(values[k]), outside int32's range; feed values within ±2^31 or use TensorRT ≥ 9 (which keeps int64) or --backend reference")
            }
            let narrowed = values.map { Int32(truncatingIfNeeded: $0) }
            return Tensor(elementType: .int32, shape: tensor.shape, bytes: narrowed.withUnsafeBytes { [UInt8]($0) })
        case (.float64, .float32) where demoting:
            let values = tensor.values(as: Double.self)
            if let k = values.firstIndex(where: { $0.isFinite && !Float($0).isFinite }) {
                throw TensorRTError(.invalidArgument,
                    "TensorRT: input '\(input)' is double and TensorRT \(version) runs it as float, but element \(k) is \(values[k]), beyond float's range; scale the input or use --backend reference")
            }
            return Tensor(shape: tensor.shape, floats: values.map { Float($0) })
        default:
            let note = demoting ? "" : " (TensorRT \(version) keeps the model's types; only TensorRT 8 demotes int64 to int32 and double to float)"
            throw TensorRTError(.invalidArgument,
                "TensorRT: input '\(input)' is \(tensor.elementType); the engine takes \(engineType)\(note)")
        }
    }
}
