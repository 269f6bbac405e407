import KilnONNX

/// libFuzzer entry point: both ONNX readers on one input, with the round-trip oracle.
/// Built by `Tests/fuzz/libfuzzer.sh` (not part of the SwiftPM package).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzONNX(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size))
    var report = ONNXMutationFuzzer.Report()
    ONNXMutationFuzzer.execute(bytes, &report)
    if !report.roundTripFailures.isEmpty {
        fatalError("accepted input did not round-trip through ONNXWriter")
    }
    return 0
}
