import Glibc

/// glibc's `mallopt` (malloc.h is not part of the Glibc module map).
@_silgen_name("mallopt")
private func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32

/// Process-wide allocator settings for a frame loop that allocates multi-megabyte buffers.
public enum MemoryTuning {
    private static let trimThreshold: Int32 = -1  // M_TRIM_THRESHOLD
    private static let mmapThreshold: Int32 = -3  // M_MMAP_THRESHOLD
    private static let arenaMax: Int32 = -8  // M_ARENA_MAX

    /// Keeps freed frame-sized buffers in the heap for reuse instead of returning them to the
    /// kernel: glibc otherwise serves each 1080p frame and input tensor with a fresh `mmap`, and
    /// the loop pays thousands of page faults per frame to zero new pages.
    public static func keepLargeBuffers() {
        _ = glibcMallopt(mmapThreshold, 256 << 20)
        _ = glibcMallopt(trimThreshold, 512 << 20)
        // One arena: frames and tensors are allocated on capture threads and freed on the
        // postprocess thread; with glibc's per-thread arenas those cross-arena frees cost the
        // pipelined loop a third of its throughput on a 16-core Xeon (`kiln-bench loop`:
        // 0.63x -> 0.98x of serial with a no-op engine, 1.53x -> 1.69x with a 2 ms engine).
        // Small allocations stay lock-free in glibc's per-thread caches. KILN_MALLOC_ARENAS=N overrides.
        var arenas: Int32 = 1
        if let text = getenv("KILN_MALLOC_ARENAS").map({ String(cString: $0) }), let n = Int32(text), n > 0 { arenas = n }
        _ = glibcMallopt(arenaMax, arenas)
    }
}
