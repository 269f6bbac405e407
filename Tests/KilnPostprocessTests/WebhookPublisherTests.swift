import Foundation
import Glibc
import KilnPostprocess
import KilnTestSupport
import Testing

/// The webhook sink against a real HTTP server (Python's http.server) on loopback.
@Suite struct WebhookPublisherTests {
    func result(_ i: Int) -> Data { Data("{\"frame\":\(i),\"stream\":\"cam0\"}".utf8) }

    @Test func resultsArrivePostedInBatchesInOrder() throws {
        guard let receiver = try WebhookReceiver.start() else { return }
        defer { receiver.stop() }
        let publisher = WebhookPublisher(endpoint: try WebhookEndpoint(parsing: receiver.url("/hook?token=abc"), maxBatch: 100, maxDelay: 0.2))
        for i in 0..<250 { publisher.enqueue(result(i)) }
        publisher.close(grace: 10)
        let requests = receiver.requests
        let frames = requests.flatMap { $0.results.compactMap { $0["frame"] as? Int } }
        #expect(frames == Array(0..<250))
        #expect(requests.count >= 3 && requests.allSatisfy { $0.results.count <= 100 }, "\(requests.map(\.results.count))")
        #expect(requests.allSatisfy { $0.path == "/hook?token=abc" && $0.contentType == "application/json" })
        #expect(publisher.deliveredCount == 250 && publisher.droppedCount == 0)
    }

    @Test func aReceiverThatIsDownIsRetriedWithBackoffAndNothingIsLost() throws {
        guard let receiver = try WebhookReceiver.start(failFirst: 3) else { return }
        defer { receiver.stop() }
        let publisher = WebhookPublisher(endpoint: try WebhookEndpoint(parsing: receiver.url(), maxBatch: 10, maxDelay: 0.05))
        for i in 0..<30 { publisher.enqueue(result(i)) }
        #expect(TestEnvironment.eventually(20) { publisher.deliveredCount == 30 }, "delivered \(publisher.deliveredCount), \(publisher.lastError ?? "")")
        publisher.close(grace: 2)
        let requests = receiver.requests
        #expect(requests.prefix(3).allSatisfy { $0.status == 503 })
        let delivered = requests.filter { $0.status == 200 }.flatMap { $0.results.compactMap { $0["frame"] as? Int } }
        #expect(delivered == Array(0..<30))
        #expect(publisher.lastError?.contains("503") == true)
        #expect(publisher.droppedCount == 0)
    }

    @Test func aSlowReceiverNeverBlocksTheCallerAndDropsAreCounted() throws {
        guard let receiver = try WebhookReceiver.start(delay: 2) else { return }
        defer { receiver.stop() }
        let publisher = WebhookPublisher(endpoint: try WebhookEndpoint(parsing: receiver.url(), maxBatch: 10, maxDelay: 0.01),
                                         capacity: 50)
        let start = Date()
        for i in 0..<2000 {
            publisher.enqueue(result(i))
            if i % 200 == 0 { usleep(20_000) }
        }
        let elapsed = Date().timeIntervalSince(start)
        #expect(elapsed < 1, "enqueue took \(elapsed) s")
        #expect(publisher.droppedCount >= 1940)  // 50 queued, a batch of at most 10 in flight
        let closeStart = Date()
        publisher.close(grace: 1)
        #expect(Date().timeIntervalSince(closeStart) < 3)
    }

    @Test func aDeadReceiverNeverBlocksTheCaller() throws {
        let port = try LoopbackServer.freePort()
        let publisher = WebhookPublisher(endpoint: try WebhookEndpoint(parsing: "http://127.0.0.1:\(port)/kiln"), capacity: 100)
        let start = Date()
        for i in 0..<1000 { publisher.enqueue(result(i)) }
        #expect(Date().timeIntervalSince(start) < 0.5)
        #expect(publisher.droppedCount >= 800)  // 100 queued, a batch of at most 100 in flight
        let closeStart = Date()
        publisher.close(grace: 1)
        #expect(Date().timeIntervalSince(closeStart) < 3)
        #expect(publisher.deliveredCount == 0 && publisher.droppedCount == 1000)
    }

    @Test func aReceiverThatRefusesDropsTheBatchWithAWarning() throws {
        guard let receiver = try WebhookReceiver.start(status: 400) else { return }
        defer { receiver.stop() }
        let publisher = WebhookPublisher(endpoint: try WebhookEndpoint(parsing: receiver.url(), maxBatch: 5, maxDelay: 0.05))
        for i in 0..<10 { publisher.enqueue(result(i)) }
        #expect(TestEnvironment.eventually(10) { publisher.droppedCount == 10 })
        publisher.close(grace: 1)
        #expect(publisher.deliveredCount == 0)
        #expect(publisher.lastError?.contains("HTTP 400") == true)
        // Not retried: each result was posted once.
        #expect(receiver.requests.flatMap(\.results).count == 10)
    }

    @Test func webhookURLsAreCheckedAsUsageErrors() {
        #expect(throws: PostprocessError.self) { try WebhookEndpoint(parsing: "http://") }
        #expect(throws: PostprocessError.self) { try WebhookEndpoint(parsing: "http://user:pw@host/x") }
        #expect(throws: PostprocessError.self) { try WebhookEndpoint(parsing: "ftp://host/x") }
        #expect((try? WebhookEndpoint(parsing: "https://hooks.example.com/kiln?token=s3cret"))?.description == "https://hooks.example.com/kiln")
    }
}
