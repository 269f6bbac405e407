import Foundation
import KilnCore
import KilnRegistry
@testable import KilnRollout
import KilnTestSupport
import Testing

/// Cohorts, the persisted rollout state and its typed phases: the parts that need no server.
@Suite struct RolloutStateTests {
    @Test func cohortsAreStableUniformAndGrowWithThePercentage() {
        let devices = (0..<20_000).map { "device-\($0)" }
        let in10 = devices.filter { RolloutCohort.includes(deviceID: $0, rolloutID: "r1", percentage: 10) }
        let in30 = Set(devices.filter { RolloutCohort.includes(deviceID: $0, rolloutID: "r1", percentage: 30) })
        #expect(abs(Double(in10.count) / 20_000 - 0.10) < 0.01)
        #expect(abs(Double(in30.count) / 20_000 - 0.30) < 0.015)
        #expect(in10.allSatisfy { in30.contains($0) }, "raising the percentage only adds devices")
        #expect(RolloutCohort.bucket(deviceID: "d", rolloutID: "r") == RolloutCohort.bucket(deviceID: "d", rolloutID: "r"))
        // Another rollout draws another cohort.
        let other = devices.filter { RolloutCohort.includes(deviceID: $0, rolloutID: "r2", percentage: 10) }
        #expect(Set(other).intersection(in10).count < in10.count / 5)
        #expect(RolloutCohort.includes(deviceID: "x", rolloutID: "r", percentage: nil))
        #expect(!devices.contains { RolloutCohort.includes(deviceID: $0, rolloutID: "r1", percentage: 0) })
    }

    @Test func rolloutStatePersistsAtomicallyAndStateDirectoryFollowsSystemd() throws {
        let dir = try TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = RolloutStateStore(directory: dir.path)
        var state = RolloutState()
        state.reference = "r.example.com/a:prod"
        state.active = .init(digest: Digest.of([1]), modelDigest: Digest.of([2]), path: "/x", since: RolloutState.timestamp())
        state.rejected = [.init(digest: Digest.of([3]), reason: "golden data failed", at: RolloutState.timestamp())]
        state.record(.idle, digest: Digest.of([1]), detail: "active")
        try store.save(state)
        #expect(try store.load() == state)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["rollout.json"])
        try Data("{".utf8).write(to: URL(fileURLWithPath: store.path))
        #expect { _ = try store.load() } throws: { "\($0)".contains(store.path) && $0 is RuntimeError }
        #expect(KilnDirectories(environment: ["STATE_DIRECTORY": "/var/lib/kiln", "HOME": "/h"]).state == "/var/lib/kiln")
        #expect(KilnDirectories(environment: ["XDG_STATE_HOME": "/s", "HOME": "/h"]).state == "/s/kiln")
        #expect(KilnDirectories(environment: ["HOME": "/h"]).state == "/h/.local/state/kiln")
    }

    @Test func metricStateFollowsTheTypedPhaseAndTheLastRefusal() {
        var state = RolloutState()
        #expect(state.metricState == .idle)
        for (phase, metric) in [(RolloutPhase.pulling, RolloutMetricState.downloading), (.building, .building), (.gating, .verifying),
                                (.swapping, .switching), (.probation, .switching), (.rollingBack, .rolledBack)] {
            state.record(phase, digest: Digest.of([1]), detail: "step")
            #expect(state.metricState == metric, "\(phase)")
        }
        state.refuse(Digest.of([1]), kind: .gateFailed, reason: "golden data failed")
        #expect(state.metricState == .failed)
        #expect(state.rejected.first?.kind == .gateFailed)
        state.record(.idle, digest: nil, detail: "refused: a detail that only looks like a refusal")
        #expect(state.metricState == .idle, "the metric follows the typed refusal, not the detail text")
        state.refuse(Digest.of([2]), kind: .rolledBack, reason: "probation failed")
        #expect(state.metricState == .rolledBack)
    }

    @Test func aPersistedProbationRefusesTheTrialAndKeepsTheCommittedModel() {
        let a = Digest.of([1]), b = Digest.of([2])
        var state = RolloutState()
        state.active = .init(digest: a, modelDigest: nil, path: nil, since: RolloutState.timestamp())
        state.trial = .init(digest: b, modelDigest: nil, path: nil, since: RolloutState.timestamp())
        state.candidate = b
        state.running = .init(serving: a, pid: 42)
        state.record(.probation, digest: b, detail: "on trial")
        let decisions = state.recoverAtStart()
        #expect(decisions.count == 1 && decisions[0].contains("crashed while in probation"), "\(decisions)")
        #expect(state.active?.digest == a && state.trial == nil && state.candidate == nil && state.running == nil)
        #expect(state.rejected.map(\.digest) == [b] && state.rejected.first?.kind == .crashed)
        #expect(state.phase == .idle && state.metricState == .failed)
        #expect(state.abnormalExitCount(a) == 0, "the crash is the candidate's, not the committed model's")
    }

    @Test func theCrashLoopBreakerTripsAtTheThresholdAndFallsBackToThePreviousModel() {
        let a = Digest.of([1]), b = Digest.of([2])
        var state = RolloutState()
        state.active = .init(digest: b, modelDigest: nil, path: nil, since: RolloutState.timestamp())
        state.previous = .init(digest: a, modelDigest: nil, path: nil, since: RolloutState.timestamp())
        state.record(.idle, digest: b, detail: "active")
        state.running = .init(serving: b, pid: 1)
        _ = state.recoverAtStart(breakerThreshold: 2)
        #expect(state.abnormalExitCount(b) == 1 && state.rejected.isEmpty && state.active?.digest == b)
        state.running = .init(serving: b, pid: 2)
        _ = state.recoverAtStart(breakerThreshold: 2)
        #expect(state.active?.digest == a && state.previous == nil)
        #expect(state.rejected.first?.digest == b && state.rejected.first?.kind == .crashLoop)
        // A clean start (no marker, idle) decides nothing.
        #expect(state.recoverAtStart().isEmpty)
        // Without a previous model the breaker cannot fall back: the model keeps serving.
        var lone = RolloutState()
        lone.active = .init(digest: b, modelDigest: nil, path: nil, since: RolloutState.timestamp())
        for pid in 1...3 {
            lone.running = .init(serving: b, pid: Int32(pid))
            _ = lone.recoverAtStart()
        }
        #expect(lone.active?.digest == b && lone.rejected.isEmpty)
    }
}
