@testable import KilnSystem
import Synchronization
import Testing

/// The progress model and its renderer: rates, texts, and the limits on how often anything is written.
@Suite struct ProgressTests {
    final class Capture: Sendable {
        let raw = Mutex<[String]>([])
        let lines = Mutex<[String]>([])
        func renderer(_ mode: ProgressRenderer.Mode) -> ProgressRenderer {
            ProgressRenderer(mode: mode, width: { 100 }, writeRaw: { text in self.raw.withLock { $0.append(text) } },
                             writeLine: { line in self.lines.withLock { $0.append(line) } })
        }
    }

    static func bytes(_ done: Int64, elapsed: Double, outcome: ProgressOutcome? = nil) -> ProgressSnapshot {
        ProgressSnapshot(id: 1, step: .pull, subject: "registry/model 0123456789ab", unit: .bytes, done: done, total: 100_000_000,
                         elapsed: elapsed, rate: 2_000_000, outcome: outcome)
    }

    @Test func terminalRedrawsAtMostTenTimesASecondAndClearsTheLineWhenDone() {
        let capture = Capture()
        let renderer = capture.renderer(.terminal)
        renderer.handle(.began(Self.bytes(0, elapsed: 0)), now: 1000)
        for i in 1...1000 {  // an update every millisecond for one second
            renderer.handle(.updated(Self.bytes(Int64(i) * 1000, elapsed: Double(i) / 1000)), now: 1000 + Double(i) / 1000)
        }
        renderer.handle(.finished(Self.bytes(100_000_000, elapsed: 1.0, outcome: .succeeded)), now: 1001)
        let raw = capture.raw.withLock { $0 }
        #expect(raw.count >= 10 && raw.count <= 12, "\(raw.count) redraws in 1 s")
        #expect(raw.allSatisfy { $0.hasPrefix("\r\u{1B}[K") && !$0.contains("\n") })
        #expect(raw.last?.hasSuffix("\r\u{1B}[K") == true, "cleared when done")
        #expect(raw.last?.contains("95.4 MiB / 95.4 MiB") == true, "\(raw.last ?? "")")
        #expect(capture.lines.withLock { $0 }.isEmpty)
    }

    @Test func plainLinesStartAfterTwoSecondsComeAtMostEveryTenAndCloseTheStep() {
        let capture = Capture()
        let renderer = capture.renderer(.lines)
        renderer.handle(.began(Self.bytes(0, elapsed: 0)), now: 0)
        for i in 1...350 {  // 35 s of updates every 100 ms
            let t = Double(i) / 10
            renderer.handle(.updated(Self.bytes(Int64(i) * 100_000, elapsed: t)), now: t)
        }
        renderer.handle(.finished(Self.bytes(100_000_000, elapsed: 35, outcome: .succeeded)), now: 35)
        let lines = capture.lines.withLock { $0 }
        #expect(lines.count == 5, "at 2, 12, 22 and 32 s, then the closing line: \(lines)")
        #expect(lines.first == "pulling registry/model 0123456789ab: 2000000 of 100000000 bytes (2%), 1.9 MiB/s, ETA 49 s, 2 s elapsed")
        #expect(lines.last == "pulling registry/model 0123456789ab: 100000000 of 100000000 bytes (100%), 1.9 MiB/s, 35 s elapsed, succeeded")
        #expect(!lines.joined().unicodeScalars.contains { $0.value < 0x20 })
        #expect(capture.raw.withLock { $0 }.isEmpty)
    }

    @Test func aQuickStepPrintsNoPlainLine() {
        let capture = Capture()
        let renderer = capture.renderer(.lines)
        renderer.handle(.began(Self.bytes(0, elapsed: 0)), now: 0)
        renderer.handle(.updated(Self.bytes(50, elapsed: 1.5)), now: 1.5)
        renderer.handle(.finished(Self.bytes(100, elapsed: 1.9, outcome: .succeeded)), now: 1.9)
        #expect(capture.lines.withLock { $0 }.isEmpty)
    }

    @Test func trackerComputesRateAndRestartsItForResumedBytes() async throws {
        let hub = ProgressHub()
        let events = Mutex<[ProgressEvent]>([])
        _ = hub.observe { e in events.withLock { $0.append(e) } }
        let tracker = hub.begin(.pull, subject: "r\u{1B}[31m/x\n", unit: .bytes, total: 10_000_000)
        tracker.update(done: 4_000_000, restartRate: true)  // a partial file found, not transferred
        #expect(tracker.snapshot.rate == nil)
        #expect(tracker.snapshot.subject == "r[31m/x", "control characters are dropped from subjects")
        for i in 1...7 {
            try await Task.sleep(for: .milliseconds(100))
            tracker.update(done: 4_000_000 + Int64(i) * 100_000)
        }
        let rate = try #require(tracker.snapshot.rate)
        #expect(rate > 500_000 && rate < 1_500_000, "about 1 MB/s of new bytes, not the resumed 4 MB: \(rate)")
        #expect(hub.active.map(\.id) == [tracker.id])
        tracker.finish()
        tracker.finish()
        tracker.update(done: 1)
        #expect(hub.active.isEmpty)
        let kinds = events.withLock { $0 }.map { e -> String in
            switch e {
            case .began: "began"
            case .updated: "updated"
            case .finished: "finished"
            }
        }
        #expect(kinds.first == "began" && kinds.last == "finished" && kinds.filter { $0 == "finished" }.count == 1)
    }

    @Test func statusLinesNameTheStepAndWhereItIs() {
        let build = ProgressSnapshot(id: 2, step: .build, subject: "yolo11n", backend: "tensorrt", phase: "tactic selection", unit: .phases,
                                     done: 2, total: 6, elapsed: 130)
        #expect(build.statusLine == "building engine: phase 3/6, tactic selection, 2 m 10 s")
        let probation = ProgressSnapshot(id: 3, step: .probation, subject: "m", unit: .seconds, done: 100, total: 300, elapsed: 100)
        #expect(probation.statusLine == "on probation: 3 m 20 s left, 1 m 40 s")
        #expect(probation.eta == 200)
    }
}
