import Dispatch
import Foundation
import Synchronization
import Testing

@testable import KilnReferenceKernels

/// The reference kernels' thread pool: every iteration exactly once, however loops are started.
@Suite("Kernel thread pool")
struct KernelThreadPoolTests {
    /// Runs `count` iterations on `threads` threads and returns how often each index ran.
    static func visits(_ pool: KernelThreadPool, _ count: Int, threads: Int) -> [Int] {
        let counts = Mutex([Int](repeating: 0, count: count))
        pool.run(count, threads: threads) { i in counts.withLock { $0[i] += 1 } }
        return counts.withLock { $0 }
    }

    @Test("thousands of back-to-back loops of every size run each iteration exactly once")
    func backToBackLoopsRunEveryIterationOnce() {
        let pool = KernelThreadPool(workers: 3)
        for round in 0..<3000 {
            let count = 1 + round % 37, threads = 1 + round % 4
            let v = Self.visits(pool, count, threads: threads)
            if v != Array(repeating: 1, count: count) {
                Issue.record("round \(round): \(count) iterations on \(threads) threads visited \(v)")
                return
            }
        }
    }

    @Test("loops started from several threads at once, and loops nested in loops, each run every iteration once")
    func concurrentAndNestedLoopsRunEveryIterationOnce() {
        let pool = KernelThreadPool(workers: 2)
        let failures = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: 8) { caller in
            for round in 0..<200 {
                let count = 2 + (round + caller) % 19
                let inner = Mutex([Int](repeating: 0, count: count))
                pool.run(count, threads: 3) { i in
                    // A nested loop (the pool is busy, so it goes to GCD).
                    let v = Self.visits(pool, 3, threads: 2)
                    if v == [1, 1, 1] { inner.withLock { $0[i] += 1 } }
                }
                if inner.withLock({ $0 }) != Array(repeating: 1, count: count) { failures.add(1, ordering: .relaxed) }
            }
        }
        #expect(failures.load(ordering: .relaxed) == 0)
    }

    @Test("a helper that went to sleep wakes for the next loop")
    func sleepingHelpersWakeForTheNextLoop() throws {
        let pool = KernelThreadPool(workers: 1)
        #expect(Self.visits(pool, 4, threads: 2) == [1, 1, 1, 1])
        // Long enough for the helper to stop spinning and sleep.
        usleep(300_000)
        let ran = Mutex<Set<UInt>>([])
        pool.run(2, threads: 2) { _ in
            usleep(20_000)  // long enough for the helper to take the other iteration
            let thread = UInt(pthread_self())
            ran.withLock { _ = $0.insert(thread) }
        }
        #expect(ran.withLock { $0.count } == 2, "both iterations ran on one thread (\(ran.withLock { $0 })): the sleeping helper was not woken")
    }
}
