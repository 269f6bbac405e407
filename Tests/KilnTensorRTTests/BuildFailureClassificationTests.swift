import KilnCore
@testable import KilnTensorRT
import Testing

/// Failure classification with TensorRT's real message texts (from NVIDIA/TensorRT, TensorRT-LLM#493,
/// ultralytics#22271, mmdeploy#1059, jetson-inference#1499, DeepStream-Yolo#366).
@Suite("TensorRT build failures: memory, no implementation, or neither")
struct BuildFailureClassificationTests {
    static let tacticWarning = "[TRT] [W] Tactic Device request: 538MB Available: 166MB. Device memory is insufficient to use tactic."
    static let skippingWarning = "[TRT] [W] Skipping tactic 3 due to insufficient memory on requested size of 538 detected for tactic 0x0000000000000004."
    static let errorCode10 = "10: [optimizer.cpp::computeCosts::3728] Error Code 10: Internal Error (Could not find any implementation for node /model.0/conv/Conv.)"

    @Test("memory warnings of successful builds never classify a failure")
    func warningsAreNotFailures() {
        #expect(AdaptiveWorkspace.isWarningOrInfo(Self.tacticWarning))
        #expect(AdaptiveWorkspace.isWarningOrInfo(Self.skippingWarning))
        let lines = [Self.tacticWarning, Self.skippingWarning].filter { !AdaptiveWorkspace.isWarningOrInfo($0) }
            + ["4: [network.cpp::validate::3008] Error Code 4: Internal Error (images: dynamic input is missing dimensions in profile 0.)"]
        #expect(AdaptiveWorkspace.classify(exit: .exited(1), errorLines: lines, reportedKind: .buildFailed) == nil)
    }

    @Test("TensorRT's allocation errors and the OOM killer are memory failures")
    func memoryFailures() {
        for line in [
            "2: [virtualMemoryBuffer.cpp::resizePhysical::145] Error Code 2: OutOfMemory (no further information)",
            "1: [defaultAllocator.cpp::allocate::20] Error Code 1: Cuda Runtime (out of memory)",
            "Requested amount of GPU memory (1073741824 bytes) could not be allocated. There may not be enough free memory for allocation to succeed.",
            "terminate called after throwing an instance of 'std::bad_alloc'",
        ] {
            guard case .memory = AdaptiveWorkspace.classify(exit: .exited(1), errorLines: [line], reportedKind: nil) else {
                Issue.record("not classified as memory: \(line)")
                continue
            }
        }
        #expect(AdaptiveWorkspace.classify(exit: .signaled(9), errorLines: [], reportedKind: nil)
                == .memory("killed by SIGKILL (out of memory: the kernel's OOM killer)"))
        #expect(AdaptiveWorkspace.classify(exit: .exited(1), errorLines: [], reportedKind: .outOfMemory) != nil)
    }

    @Test("'Could not find any implementation' after memory warnings asks for a larger workspace")
    func noImplementation() {
        let lines = [Self.tacticWarning, Self.skippingWarning, "[TRT] [E] " + Self.errorCode10].filter { !AdaptiveWorkspace.isWarningOrInfo($0) }
        guard case .noImplementation(let reason) = AdaptiveWorkspace.classify(exit: .exited(1), errorLines: lines, reportedKind: nil) else {
            Issue.record("Error Code 10 not classified as no-implementation")
            return
        }
        #expect(reason.contains("Could not find any implementation"))
        #expect(AdaptiveWorkspace.classify(exit: .exited(1), errorLines: [], reportedKind: .noImplementation) != nil)
    }
}
