import Foundation
import Glibc
import KilnPostprocess
import KilnTestSupport
import Testing

/// Kiln's hand-written MQTT 3.1.1 publisher against a real Debian `mosquitto` and
/// `mosquitto_sub` on loopback.
@Suite struct MQTTPublisherTests {
    func endpoint(_ port: Int, _ topic: String = "kiln", qos: Int = 1, user: String? = nil) throws -> MQTTEndpoint {
        try MQTTEndpoint(parsing: "mqtt://\(user.map { "\($0)@" } ?? "")127.0.0.1:\(port)/\(topic)?qos=\(qos)&keepalive=4")
    }

    /// Waits up to `seconds` for `condition`.
    @Test func qos1MessagesReachARealSubscriberInOrder() throws {
        guard let broker = try MosquittoBroker.start() else { return }
        defer { broker.stop() }
        let sub = try broker.subscribe("kiln/#", count: 50)
        let publisher = MQTTPublisher(endpoint: try endpoint(broker.port))
        for i in 0..<50 { publisher.enqueue(topic: "kiln/cam0", payload: Array("{\"frame\":\(i)}".utf8)) }
        publisher.close(grace: 10)
        let lines = sub.lines(within: 20)
        #expect(lines == (0..<50).map { "kiln/cam0 {\"frame\":\($0)}" }, "\(lines.prefix(5)) … log: \(broker.log)")
        #expect(publisher.deliveredCount == 50)
        #expect(publisher.droppedCount == 0)
        #expect(publisher.connectionCount == 1)
    }

    @Test func aBrokerRestartedMidRunIsReconnectedAndPublishingResumes() throws {
        guard let broker = try MosquittoBroker.start() else { return }
        defer { broker.stop() }
        let publisher = MQTTPublisher(endpoint: try endpoint(broker.port))
        defer { publisher.close(grace: 1) }
        for i in 0..<5 { publisher.enqueue(topic: "kiln/cam0", payload: Array("before \(i)".utf8)) }
        #expect(TestEnvironment.eventually(10) { publisher.deliveredCount == 5 })
        broker.halt()
        // Published into the outage: queued, never blocking the caller.
        let start = Date()
        for i in 0..<5 { publisher.enqueue(topic: "kiln/cam0", payload: Array("outage \(i)".utf8)) }
        #expect(Date().timeIntervalSince(start) < 0.1)
        usleep(1_500_000)  // several failed reconnects: the backoff grows
        try broker.restart()
        let sub = try broker.subscribe("kiln/#", count: 10, seconds: 10)
        // Messages queued in the outage go out once it reconnects (the subscriber sees them when
        // it subscribed before the reconnect; either way the broker acknowledged them).
        #expect(TestEnvironment.eventually(15) { publisher.deliveredCount == 10 }, "published \(publisher.deliveredCount); log: \(broker.log)")
        for i in 0..<5 { publisher.enqueue(topic: "kiln/cam0", payload: Array("after \(i)".utf8)) }
        let lines = sub.lines(within: 15)
        let outage = (0..<5).map { "kiln/cam0 outage \($0)" }, after = (0..<5).map { "kiln/cam0 after \($0)" }
        #expect(lines == outage + after || lines == after, "\(lines); log: \(broker.log)")
        #expect(publisher.connectionCount == 2)
        #expect(publisher.droppedCount == 0)
    }

    @Test func aDeadBrokerNeverBlocksTheCallerAndDropsAreCounted() throws {
        // Nothing listens on this port.
        let port = try LoopbackServer.freePort()
        let publisher = MQTTPublisher(endpoint: try endpoint(port), capacity: 100)
        let start = Date()
        for i in 0..<5000 { publisher.enqueue(topic: "kiln/cam0", payload: Array("\(i)".utf8)) }
        let elapsed = Date().timeIntervalSince(start)
        #expect(elapsed < 0.5, "enqueue took \(elapsed) s")
        #expect(publisher.droppedCount >= 4899)  // 100 queued, 1 in flight
        let closeStart = Date()
        publisher.close(grace: 1)
        #expect(Date().timeIntervalSince(closeStart) < 3)
        #expect(publisher.deliveredCount == 0)
        #expect(publisher.droppedCount == 5000)
    }

    @Test func aBrokerThatAcceptsButNeverAnswersNeverBlocksTheCaller() throws {
        // A TCP peer that reads nothing and answers nothing (a hung broker).
        let hung = try LoopbackServer { fd in
            sleep(8)
            close(fd)
        }
        defer { hung.stop() }
        let publisher = MQTTPublisher(endpoint: try endpoint(hung.port), capacity: 10)
        let start = Date()
        for i in 0..<1000 {
            publisher.enqueue(topic: "kiln/cam0", payload: Array("\(i)".utf8))
            if i % 100 == 0 { usleep(10_000) }
        }
        #expect(Date().timeIntervalSince(start) < 1)
        #expect(publisher.droppedCount >= 989)  // 10 queued, 1 taken by the stuck connection
        let closeStart = Date()
        publisher.close(grace: 1)
        #expect(Date().timeIntervalSince(closeStart) < 3)
        #expect(publisher.deliveredCount == 0)
    }

    @Test func credentialsAreSentAndARefusalIsReportedNotRetriedSilently() throws {
        guard let broker = try MosquittoBroker.start(user: "cam", password: "s3cret") else { return }
        defer { broker.stop() }
        let sub = try broker.subscribe("kiln/#", count: 1, user: "cam", password: "s3cret")
        var good = try endpoint(broker.port, user: "cam")
        good.password = "s3cret"
        let publisher = MQTTPublisher(endpoint: good)
        publisher.enqueue(topic: "kiln/cam0", payload: Array("hello".utf8))
        publisher.close(grace: 10)
        #expect(sub.lines(within: 10) == ["kiln/cam0 hello"], "log: \(broker.log)")
        var bad = good
        bad.password = "wrong"
        let refused = MQTTPublisher(endpoint: bad)
        refused.enqueue(topic: "kiln/cam0", payload: Array("never".utf8))
        #expect(TestEnvironment.eventually(5) { refused.lastError?.contains("not authorized") == true || refused.lastError?.contains("bad user name or password") == true },
                "\(refused.lastError ?? "no error")")
        refused.close(grace: 0.5)
        #expect(refused.deliveredCount == 0)
    }
}
