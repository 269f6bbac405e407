import Foundation
import KilnPostprocess
import Synchronization
import Testing

/// The hand-off between the loop and a publisher thread: every pushed message ends up counted
/// exactly once, delivered or dropped, by the time `close` returns.
@Suite struct PublishQueueTests {
    /// What `onChange` heard, summed.
    final class Heard: Sendable {
        let totals = Mutex((delivered: 0, dropped: 0))
        func add(_ delivered: Int, _ dropped: Int) { totals.withLock { $0.delivered += delivered; $0.dropped += dropped } }
    }

    @Test func aPublisherThatDrainsInTheGraceDeliversEverything() {
        let heard = Heard()
        let queue = PublishQueue<Int>(capacity: 100, onChange: heard.add)
        for i in 0..<50 { queue.push(i) }
        queue.startPublisher(named: "kiln-test-publisher") {
            while true {
                let batch = queue.batch(limit: 8, deadline: Date().addingTimeInterval(10))
                if batch.isEmpty && queue.isClosing { return }
                queue.delivered(batch.count)
            }
        }
        queue.close(grace: 10)
        #expect(queue.deliveredCount == 50 && queue.droppedCount == 0)
        #expect(heard.totals.withLock { $0 } == (50, 0))
    }

    @Test func aPublisherStalledPastTheGraceLeavesFinalCountsThatItsLateReportsDoNotChange() {
        let heard = Heard()
        let queue = PublishQueue<Int>(capacity: 100, onChange: heard.add)
        for i in 0..<6 { queue.push(i) }
        let took = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0), ended = DispatchSemaphore(value: 0)
        queue.startPublisher(named: "kiln-test-stalled-publisher") {
            let batch = queue.batch(limit: 4, deadline: Date().addingTimeInterval(10))
            queue.delivered(1)
            took.signal()
            release.wait()  // a receiver that stopped reading, past the grace
            queue.discarded(batch.count - 1)
            ended.signal()
        }
        #expect(took.wait(timeout: .now() + 10) == .success)
        queue.close(grace: 0.2)
        // 1 delivered; 3 in the publisher's hands and 2 still queued are dropped.
        #expect(queue.deliveredCount == 1 && queue.droppedCount == 5)
        release.signal()
        #expect(ended.wait(timeout: .now() + 10) == .success)
        #expect(queue.deliveredCount == 1 && queue.droppedCount == 5, "the late report was counted again")
        #expect(heard.totals.withLock { $0 } == (1, 5))
        queue.push(6)
        #expect(queue.droppedCount == 6, "a push after close is dropped and counted")
    }
}
