/// Scratch float buffers aligned to a 64-byte cache line.
///
/// `UnsafeMutablePointer.allocate` and array storage are only 16-byte aligned; a 64-byte vector
/// load from such a buffer straddles two cache lines three times in four, which halves the
/// AVX-512 GEMM tile's throughput when its B panel is misaligned. Free with `deallocate()`.
enum AlignedFloats {
    /// Bytes of alignment: one cache line, one AVX-512 vector.
    static let alignment = 64

    /// Uninitialized storage for `count` floats starting on a cache-line boundary.
    static func allocate(_ count: Int) -> UnsafeMutablePointer<Float> {
        UnsafeMutableRawPointer.allocate(byteCount: max(1, count) * MemoryLayout<Float>.stride, alignment: alignment)
            .bindMemory(to: Float.self, capacity: max(1, count))
    }
}
