import CKilnTensorRT
import KilnCore

/// A deserialized TensorRT engine with one execution context (bridge handle).
///
/// IO tensors are addressed by name on every TensorRT version (the bridge maps names to binding
/// indices on TensorRT 8). Used from one thread at a time.
public final class TensorRTEngine {
    /// The bridge's `kiln_trt_engine`.
    let handle: OpaquePointer
    /// The library that deserialized it (kept alive).
    public let library: TensorRTLibrary

    /// One input or output.
    public struct IO: Sendable, Equatable {
        /// Tensor name.
        public var name: String
        /// True for inputs.
        public var isInput: Bool
        /// Element type (ONNX numbering).
        public var elementType: ElementType?
        /// Dimensions, −1 where dynamic.
        public var dims: [Int]
    }

    /// Deserializes `plan`; a DLA engine needs the `dlaCore` it was built for (set before deserializing).
    public init(library: TensorRTLibrary, plan: [UInt8], dlaCore: Int? = nil) throws(TensorRTError) {
        self.library = library
        var error = [CChar](repeating: 0, count: 8192)
        var engine: OpaquePointer?
        let status = plan.withUnsafeBytes { raw in
            kiln_trt_engine_load(library.handle, raw.baseAddress, raw.count, Int32(dlaCore ?? -1), { _, severity, message in
                if let message, severity <= 1 { Log.error("TensorRT: \(String(cString: message))") }
            }, nil, &engine, &error, error.count)
        }
        guard status == KILN_TRT_OK, let engine else { throw TensorRTError(TensorRTLibrary.kind(status), text(error)) }
        handle = engine
    }

    deinit { kiln_trt_engine_destroy(handle) }

    /// Every input and output, in engine order.
    public func io() throws(TensorRTError) -> [IO] {
        var result: [IO] = []
        for i in 0..<kiln_trt_engine_io_count(handle) {
            var info = kiln_trt_io_info()
            try bridgeCall { kiln_trt_engine_io_info(handle, i, &info, $0, $1) }
            let name = withUnsafeBytes(of: info.name) { raw in String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self) }
            let dims = withUnsafeBytes(of: info.dims) { raw in (0..<Int(info.nb_dims)).map { Int(raw.load(fromByteOffset: $0 * 8, as: Int64.self)) } }
            result.append(IO(name: name, isInput: info.is_input != 0, elementType: ElementType(rawValue: info.element_type), dims: dims))
        }
        return result
    }

    /// Sets a dynamic input's shape.
    public func setInputShape(_ name: String, _ dims: [Int]) throws(TensorRTError) {
        let d = dims.map(Int64.init)
        try bridgeCall(capacity: 2048) { kiln_trt_engine_set_input_shape(handle, name, d, Int32(d.count), $0, $1) }
    }

    /// A tensor's current shape (outputs resolve after every input shape is set).
    public func shape(_ name: String) throws(TensorRTError) -> [Int] {
        try dimensions { kiln_trt_engine_tensor_shape(handle, name, $0, $1, $2, $3) }
    }

    /// Binds `name` to a device address.
    public func setAddress(_ name: String, _ address: UInt64) throws(TensorRTError) {
        try bridgeCall { kiln_trt_engine_set_tensor_address(handle, name, UnsafeMutableRawPointer(bitPattern: UInt(address)), $0, $1) }
    }

    /// Routes output `name`, whose shape depends on the input data (its `shape` has −1 once the
    /// inputs are set), through `allocate`, which TensorRT calls during `enqueue` with the size it
    /// needs and `user` (which must outlive this engine). TensorRT >= 10; 8.x throws why not.
    func setOutputAllocator(_ name: String, user: UnsafeMutableRawPointer, allocate: kiln_trt_output_alloc_fn) throws(TensorRTError) {
        try bridgeCall { kiln_trt_engine_set_output_allocator(handle, name, allocate, user, $0, $1) }
    }

    /// The shape TensorRT reported during the last `enqueue` for an output routed through an allocator.
    func outputShape(_ name: String) throws(TensorRTError) -> [Int] {
        try dimensions { kiln_trt_engine_output_shape(handle, name, $0, $1, $2, $3) }
    }

    /// The dimensions a bridge query writes (`dims`, `nb_dims`, then the message buffer).
    private func dimensions(
        _ query: (UnsafeMutablePointer<Int64>, UnsafeMutablePointer<Int32>, UnsafeMutablePointer<CChar>, Int) -> kiln_trt_status
    ) throws(TensorRTError) -> [Int] {
        var dims = [Int64](repeating: 0, count: Int(KILN_TRT_MAX_DIMS))
        var count: Int32 = 0
        try bridgeCall { query(&dims, &count, $0, $1) }
        return dims.prefix(Int(count)).map { Int($0) }
    }

    /// Enqueues inference on a CUDA stream (`CUstream` as an opaque pointer).
    public func enqueue(stream: OpaquePointer) throws(TensorRTError) {
        try bridgeCall(capacity: 4096) { kiln_trt_engine_enqueue(handle, UnsafeMutableRawPointer(stream), $0, $1) }
    }
}
