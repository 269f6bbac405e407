import Dispatch

/// Splits `0..<count` into contiguous chunks run on up to `threads` threads of `KernelThreadPool` (inline when 1).
@inline(__always)
func parallelFor(_ count: Int, threads: Int, minChunk: Int = 1, _ body: (Range<Int>) -> Void) {
    guard count > 0 else { return }
    let workers = max(1, min(threads, count / max(1, minChunk)))
    if workers <= 1 {
        body(0..<count)
        return
    }
    let chunk = (count + workers - 1) / workers
    KernelThreadPool.shared.run(workers, threads: workers) { w in
        let start = w * chunk
        let end = min(count, start + chunk)
        if start < end { body(start..<end) }
    }
}

/// Carries a value the caller guarantees is used safely across the workers of one parallel loop.
struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// A raw pointer that may cross into `concurrentPerform` closures; each worker writes its own range.
struct SendablePointer<T>: @unchecked Sendable {
    let p: UnsafeMutablePointer<T>
    init(_ p: UnsafeMutablePointer<T>) { self.p = p }
}
