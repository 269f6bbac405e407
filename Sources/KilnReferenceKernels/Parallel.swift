import Dispatch

/// Splits `0..<count` into contiguous chunks run on up to `threads` threads of `KernelThreadPool` (inline when 1).
///
/// Up to `chunksPerThread` chunks per thread (each at least `minChunk` long), taken in order by
/// whichever thread is free: a thread that starts late or runs slower (a shared core, a busy
/// neighbour) takes fewer chunks instead of holding up the loop with a fixed half.
@inline(__always)
func parallelFor(_ count: Int, threads: Int, minChunk: Int = 1, chunksPerThread: Int = 4, _ body: (Range<Int>) -> Void) {
    guard count > 0 else { return }
    let most = count / max(1, minChunk)
    let workers = max(1, min(threads, most))
    if workers <= 1 {
        body(0..<count)
        return
    }
    let chunks = max(workers, min(most, workers * chunksPerThread))
    let chunk = (count + chunks - 1) / chunks
    KernelThreadPool.shared.run((count + chunk - 1) / chunk, threads: workers) { w in
        let start = w * chunk
        let end = min(count, start + chunk)
        if start < end { body(start..<end) }
    }
}

/// Carries a value (a kernel's buffer pointer, a closure) into the workers of one parallel loop.
// unchecked: the loop's caller guarantees safe use; each worker writes only its own range.
struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// A raw pointer that may cross into the workers of one parallel loop; each worker writes its own range.
typealias SendablePointer<T> = UncheckedSendable<UnsafeMutablePointer<T>>

extension UncheckedSendable {
    /// The pointer a `SendablePointer` carries.
    var p: T { value }
}
