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
///
/// Handing a loop over takes no lock while the helpers spin: the caller fills in the job and
/// publishes a new generation (release); a spinning helper sees it (acquire), takes iterations
/// from a shared counter and counts itself done on an atomic the caller spins on. The condition
/// variable only wakes helpers that went to sleep (`sleepers` > 0).
///
/// A helper joins a loop before it takes iterations, and the caller closes the loop once it has
/// drained it: the caller waits only for the helpers that joined. On a busy machine a helper
/// may not be scheduled for milliseconds; the caller then does the whole loop itself instead of
/// waiting for a thread that would find nothing left to do.
// unchecked: the job is published by release/acquire atomics (see above); sleeping uses the NSCondition.
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
    // The current loop: written by the caller before `published` moves on, read by helpers after.
    private var job: ((Int) -> Void)?
    private var iterations = 0
    // Lock-free: the current loop's generation and helper count (`generation << 16 | helpers`, one
    // value, so a helper never pairs one loop's generation with another's count), the next
    // iteration to take, the helpers done with the current loop, the helpers of the last loop (the
    // others sleep at once) and the helpers asleep on `condition`.
    private let published = Atomic<Int>(0)
    private let next = Atomic<Int>(0)
    private let done = Atomic<Int>(0)
    private let recentParticipants = Atomic<Int>(0)
    private let sleepers = Atomic<Int>(0)
    // The current loop's generation, whether it is closed and how many helpers joined it
    // (`generation << 17 | closed << 16 | joined`).
    private let gate = Atomic<Int>(0)

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
            job = escaping
            iterations = count
            recentParticipants.store(helpers, ordering: .relaxed)
            done.store(0, ordering: .relaxed)
            next.store(0, ordering: .relaxed)
            let generation = published.load(ordering: .relaxed) >> 16 &+ 1
            gate.store(generation << 17, ordering: .relaxed)
            published.store(generation << 16 | helpers, ordering: .sequentiallyConsistent)
            if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                condition.lock()
                condition.broadcast()
                condition.unlock()
            }
            drain(escaping, count)
            // Close the loop: a helper that has not joined by now stays out of it.
            var state = gate.load(ordering: .acquiring)
            while true {
                let (exchanged, original) = gate.compareExchange(expected: state, desired: state | 1 << 16, ordering: .acquiringAndReleasing)
                if exchanged { break }
                state = original
            }
            let joined = state & 0xFFFF
            // The helpers that joined are running chunks: spin, yielding now and then in case
            // one of them was preempted.
            var spins = 0
            while done.load(ordering: .acquiring) < joined {
                spins &+= 1
                if spins & 4095 == 0 { sched_yield() }
            }
            job = nil
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
            // Spin first (see `spinLimit`); only threads that took part in the last loop spin.
            var spins = index < recentParticipants.load(ordering: .relaxed) ? 0 : Self.spinLimit
            while published.load(ordering: .acquiring) == seen && spins < Self.spinLimit { spins += 1 }
            if published.load(ordering: .sequentiallyConsistent) == seen {
                // Sleep: announce it first, so a caller publishing from now on broadcasts.
                sleepers.add(1, ordering: .sequentiallyConsistent)
                condition.lock()
                while published.load(ordering: .sequentiallyConsistent) == seen { condition.wait() }
                condition.unlock()
                sleepers.subtract(1, ordering: .sequentiallyConsistent)
            }
            seen = published.load(ordering: .acquiring)
            // A participant of this generation: the caller waits for it before the next one.
            guard index < seen & 0xFFFF, join(generation: seen >> 16) else { continue }
            runJob()
            done.add(1, ordering: .releasing)
        }
    }

    /// Joins loop `generation` unless the caller closed it already (or it is over).
    private func join(generation: Int) -> Bool {
        var state = gate.load(ordering: .acquiring)
        while state >> 17 == generation && state & 1 << 16 == 0 {
            let (exchanged, original) = gate.compareExchange(expected: state, desired: state &+ 1, ordering: .acquiringAndReleasing)
            if exchanged { return true }
            state = original
        }
        return false
    }

    /// Drains the current loop. The caller's closure is borrowed (`withoutActuallyEscaping`):
    /// this frame's reference is gone when it returns, before the helper counts itself done.
    @inline(never)
    private func runJob() {
        if let body = job { drain(body, iterations) }
    }
}
