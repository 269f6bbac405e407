import KilnCore
import KilnCUDA
import KilnVideo
import Synchronization

/// Chooses where frames are preprocessed: the GPU whenever one is present, else the CPU.
public enum PreprocessorChoice {
    private static let warned = Atomic<Bool>(false)

    /// GPU preprocessing (NVRTC-compiled kernel) when CUDA works here, falling back to the CPU,
    /// with one warning, if the GPU path fails to start.
    public static func automatic(gpu: Bool = CUDA.unavailableReason() == nil) -> @Sendable (PreprocessSpec) -> any FramePreprocessor {
        guard gpu else { return { CPUPreprocessor(spec: $0) } }
        return { spec in
            do {
                return try GPUFramePreprocessor(spec: spec, context: CUDAContext())
            } catch {
                if !warned.exchange(true, ordering: .relaxed) {
                    Log.warning("GPU preprocessing unavailable (\(error)); preprocessing on the CPU")
                }
                return CPUPreprocessor(spec: spec)
            }
        }
    }

    /// The CPU preprocessor, always.
    public static let cpu: @Sendable (PreprocessSpec) -> any FramePreprocessor = { CPUPreprocessor(spec: $0) }
}
