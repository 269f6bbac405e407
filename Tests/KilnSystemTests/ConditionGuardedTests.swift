import Foundation
import KilnSystem
import Testing

/// The one condition-guarded state type behind the pipeline's blocking queues, on real threads.
@Suite struct ConditionGuardedTests {
    /// Starts `body` on a new thread; the returned semaphore is signalled when it returns.
    static func spawn(_ body: @escaping @Sendable () -> Void) -> DispatchSemaphore {
        let done = DispatchSemaphore(value: 0)
        Thread {
            body()
            done.signal()
        }.start()
        return done
    }

    @Test func manyThreadsIncrementingUnderTheLockLoseNoUpdate() {
        let counter = ConditionGuarded(0)
        let threads = (0..<8).map { _ in
            Self.spawn { for _ in 0..<10_000 { counter.withLock { $0 += 1 } } }
        }
        for done in threads { done.wait() }
        #expect(counter.withLock { $0 } == 80_000)
    }

    @Test func aWaiterSleepsUntilAnotherThreadMakesItsConditionTrue() {
        let state = ConditionGuarded((ready: false, seenBy: ""))
        let waiter = Self.spawn {
            state.withLock(when: \.ready) { $0.seenBy = "waiter" }
        }
        // The waiter is blocked: nothing it would write has happened.
        Thread.sleep(forTimeInterval: 0.1)
        #expect(state.withLock { $0.seenBy } == "")
        state.withLock { $0.ready = true }
        state.signal()
        #expect(waiter.wait(timeout: .now() + 10) == .success)
        #expect(state.withLock { $0.seenBy } == "waiter")
    }

    @Test func aWaitWithAPassedDeadlineReturnsFalseAndTheBodyStillRuns() {
        let state = ConditionGuarded(false)
        let start = Date()
        #expect(state.wait(until: { $0 }, deadline: start.addingTimeInterval(0.2)) == false)
        #expect(Date().timeIntervalSince(start) >= 0.19)
        let sawReady = state.withLock(when: { $0 }, deadline: Date()) { $0 }
        #expect(sawReady == false)
    }

    @Test func aWaitWhoseConditionAlreadyHoldsReturnsAtOnce() {
        let state = ConditionGuarded(true)
        #expect(state.wait(until: { $0 }, deadline: Date().addingTimeInterval(-1)))
    }

    @Test func broadcastWakesEveryWaiterButEachReChecksItsOwnCondition() {
        // Waiter k waits until the level reaches k; levels are raised one broadcast at a time, so
        // a waiter woken too early must go back to sleep.
        let level = ConditionGuarded((level: 0, woken: [Int]()))
        let waiters = (1...4).map { k in
            Self.spawn { level.withLock(when: { $0.level >= k }) { $0.woken.append(k) } }
        }
        for next in 1...4 {
            Thread.sleep(forTimeInterval: 0.05)
            #expect(level.withLock { $0.woken.count } == next - 1)
            level.withLock { $0.level = next }
            level.broadcast()
            let deadline = Date().addingTimeInterval(10)
            while level.withLock({ $0.woken.count }) < next && Date() < deadline {
                Thread.sleep(forTimeInterval: 0.005)
            }
        }
        for done in waiters { #expect(done.wait(timeout: .now() + 10) == .success) }
        #expect(level.withLock { $0.woken } == [1, 2, 3, 4])
    }

    @Test func aProducerAndAConsumerHandOverEveryItemInOrderThroughABoundedBuffer() {
        let capacity = 3
        let buffer = ConditionGuarded((items: [Int](), closed: false, mostHeld: 0))
        let producer = Self.spawn {
            for i in 0..<2_000 {
                buffer.withLock(when: { $0.items.count < capacity }) {
                    $0.items.append(i)
                    $0.mostHeld = max($0.mostHeld, $0.items.count)
                }
                buffer.broadcast()
            }
            buffer.withLock { $0.closed = true }
            buffer.broadcast()
        }
        var received: [Int] = []
        while let item = buffer.withLock(when: { !$0.items.isEmpty || $0.closed }, { state -> Int? in
            state.items.isEmpty ? nil : state.items.removeFirst()
        }) {
            buffer.broadcast()
            received.append(item)
        }
        #expect(producer.wait(timeout: .now() + 10) == .success)
        #expect(received == Array(0..<2_000))
        #expect(buffer.withLock { $0.mostHeld } <= capacity)
    }
}
