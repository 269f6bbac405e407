@testable import KilnCUDA
import KilnCore
import Testing

@Suite("Loading the CUDA libraries")
struct CUDALoadingTests {
    @Test("a missing libcuda is a clear error naming the library and the fix")
    func missingDriverLibraryIsAClearError() throws {
        let result = openLibrary(["/nonexistent/libcuda.so.1"])
        guard case .failure(let error) = result else {
            Issue.record("a nonexistent path loaded")
            return
        }
        #expect(error.description.contains("/nonexistent/libcuda.so.1"))
        #expect(error.description.contains("install the NVIDIA driver"))
        #expect(error.exitCode == .runtimeFailure)
    }

    @Test("without a GPU every entry point reports why instead of crashing", .enabled(if: !GPUProbe.available))
    func noGPUIsReported() throws {
        let reason = try #require(CUDA.unavailableReason())
        #expect(reason.contains("libcuda") || reason.contains("no CUDA device"))
        #expect(throws: CUDAError.self) { _ = try CUDAContext(device: 0) }
    }

    @Test("driver errors carry the call, the CUresult name and the driver's message")
    func driverErrorMessage() {
        let error = CUDAError.driver(call: "cuMemAlloc(1073741824 bytes)", code: 2, name: "CUDA_ERROR_OUT_OF_MEMORY", message: "out of memory")
        #expect(error.description == "CUDA cuMemAlloc(1073741824 bytes) failed: CUDA_ERROR_OUT_OF_MEMORY (2): out of memory")
        #expect(error.isOutOfMemory)
    }
}
