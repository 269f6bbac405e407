import Dispatch
import Foundation
import Synchronization

/// Worker threads of their own for the reference kernels' parallel loops.
///
/// GCD's `concurrentPerform`, called from the agent's (or a benchmark's) threads, ran a loop on
/// at most about two threads on a 16-core Xeon, so a 2-, 4- or 8-thread engine barely ran faster
/// than a 1-thread one. This pool keeps `activeProcessorCount - 1` threads that spin briefly and
/// then sleep between loops; the calling thread works too. One loop runs at a time: a loop
/// started while another is running (another engine, or a nested loop) goes to GCD instead.
final class KernelThreadPool: @unchecked Sendable {
    /// The process-wide pool.
    static let shared = KernelThreadPool(workers: max(0, ProcessInfo.processInfo.activeProcessorCount - 1))

    /// Checks of the loop counter a worker makes before it sleeps (a few hundred microseconds):
    /// waking a sleeping thread costs tens of microseconds, more in a VM, and the kernels of one
    /// inference start loops every few tens of microseconds.
    static let spinLimit = 400_000

    private let workers: Int
    private let entry = NSLock()
    private let condition = NSCondition()
    // Guarded by `condition`.
    private var generation = 0
    private var job: ((Int) -> Void)?
    private var iterations = 0
    private var participants = 0
    private var finished = 0
    // Lock-free: the next iteration to take, and the generation for spinning workers to watch.
    private let next = Atomic<Int>(0)
    private let published = Atomic<Int>(0)
    private let recentParticipants = Atomic<Int>(0)
    // Helpers done with the current loop, for the caller to spin on.
    private let done = Atomic<Int>(0)

    init(workers: Int) {
        self.workers = workers
        for index in 0..<workers {
            let thread = Thread { [self] in self.work(index) }
            thread.name = "kiln-kernels-\(index)"
            thread.start()
        }
    }

    /// Runs `body(i)` for every i in `0..<count` on up to `threads` threads (this one included),
    /// returning when all are done.
    func run(_ count: Int, threads: Int, _ body: (Int) -> Void) {
        let helpers = min(workers, threads - 1, count - 1)
        guard helpers > 0 else {
            for i in 0..<count { body(i) }
            return
        }
        guard entry.try() else {
            withoutActuallyEscaping(body) { escaping in
                let box = UncheckedSendable(escaping)
                DispatchQueue.concurrentPerform(iterations: count) { box.value($0) }
            }
            return
        }
        defer { entry.unlock() }
        withoutActuallyEscaping(body) { escaping in
            condition.lock()
            job = escaping
            iterations = count
            participants = helpers
            recentParticipants.store(helpers, ordering: .relaxed)
            finished = 0
            done.store(0, ordering: .relaxed)
            next.store(0, ordering: .relaxed)
            generation &+= 1
            published.store(generation, ordering: .releasing)
            condition.broadcast()
            condition.unlock()
            drain(escaping, count)
            // Spin for the helpers first: a sleeping caller is woken through the kernel, which
            // costs tens of microseconds per loop in a VM, and loops end every few hundred.
            var spins = 0
            while done.load(ordering: .acquiring) < helpers && spins < Self.spinLimit { spins += 1 }
            condition.lock()
            while finished < participants { condition.wait() }
            job = nil
            condition.unlock()
        }
    }

    /// Takes iterations until none are left.
    private func drain(_ body: (Int) -> Void, _ count: Int) {
        while true {
            let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
            if i >= count { return }
            body(i)
        }
    }

    private func work(_ index: Int) {
        var seen = 0
        while true {
            // Spin first (see `spinLimit`).
            // Only threads that took part in the last loop spin; the others sleep at once.
            var spins = index < recentParticipants.load(ordering: .relaxed) ? 0 : Self.spinLimit
            while published.load(ordering: .acquiring) == seen && spins < Self.spinLimit { spins += 1 }
            condition.lock()
            while generation == seen { condition.wait() }
            seen = generation
            guard index < participants else {
                condition.unlock()
                continue
            }
            // The caller's closure is borrowed (`withoutActuallyEscaping`): the reference is
            // dropped before this thread reports itself finished.
            var body = job
            let count = iterations
            condition.unlock()
            if let b = body { drain(b, count) }
            body = nil
            done.add(1, ordering: .releasing)
            condition.lock()
            finished += 1
            if finished == participants { condition.broadcast() }
            condition.unlock()
        }
    }
}
