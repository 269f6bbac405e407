import Foundation
import Glibc
import KilnAgent
import KilnCore
import KilnRegistry
import KilnRollout
import KilnTestSupport
import Testing

/// Trial and commit with the real binary and a real registry, killed with SIGKILL the way a
/// crash or the OOM killer ends it, and restarted the way systemd's `Restart=on-failure` does.
@Suite(.serialized) struct TrialCommitTests {
    /// A is committed, B is committed after probation, C is killed in probation: the restart
    /// refuses C ("crashed while in probation") and serves B. Then B's runs die twice while
    /// serving: the crash-loop breaker refuses B and A serves again.
    @Test func aCrashInProbationRefusesTheCandidateAndACrashLoopFallsBackToThePreviousModel() async throws {
        try await RegistryServer.withScratch(directory: "kiln-trial") { registry, dir in
            let kiln = TestEnvironment.kilnExecutable
            let tag = try FleetTag("trial", on: registry, in: dir)
            let a = DemoModel.bytes(), b = RolloutEndToEndTests.variant(bias: [0.5, 0, 0, 0])
            let c = RolloutEndToEndTests.variant(bias: [0, 0.5, 0, 0])
            let stateDir = dir.appendingPathComponent("state")
            func state() -> RolloutState? { RolloutEndToEndTests.state(stateDir) }
            let common = tag.followArguments(stateDirectory: stateDir, source: "synthetic:160x120@30", ["--probation", "3s"])
            func digestServed(_ report: [String: Any]) -> String? { (report["model"] as? [String: Any])?["digest"] as? String }

            let digestA = try tag.publish(a, "a")
            let run1 = try AgentProcess(kiln, common, log: dir.appendingPathComponent("run1.log"))
            defer { run1.kill() }
            try RolloutEndToEndTests.waitFor("A active", timeout: 60) { state()?.active?.digest.description == digestA }
            let digestB = try tag.publish(b, "b")
            run1.signal(SIGHUP)
            try RolloutEndToEndTests.waitFor("B on trial", timeout: 60) { state()?.trial?.digest.description == digestB }
            #expect(state()?.active?.digest.description == digestA, "a candidate on trial is not active")
            try RolloutEndToEndTests.waitFor("B committed", timeout: 60) {
                state()?.active?.digest.description == digestB && state()?.trial == nil
            }
            let digestC = try tag.publish(c, "c")
            run1.signal(SIGHUP)
            try RolloutEndToEndTests.waitFor("C in probation", timeout: 60) {
                state()?.phase == .probation && state()?.trial?.digest.description == digestC
            }
            run1.kill()  // SIGKILL in probation
            #expect(state()?.active?.digest.description == digestB)

            // Restart: C is refused for crashing in probation; B (committed) serves; a clean end.
            let run2 = try AgentProcess(kiln, common + ["--duration", "3s"], log: dir.appendingPathComponent("run2.log"))
            defer { run2.kill() }
            let report2 = try run2.wait(timeout: 120)
            #expect(digestServed(report2) == Digest.of(b).description, "the committed model serves after the crash")
            let afterCrash = try #require(state())
            let refusalC = try #require(afterCrash.rejected.first { $0.digest.description == digestC })
            #expect(refusalC.kind == .crashed)
            #expect(refusalC.reason.contains("crashed while in probation"), "\(refusalC.reason)")
            #expect(afterCrash.active?.digest.description == digestB && afterCrash.previous?.digest.description == digestA)
            #expect(afterCrash.running == nil, "a clean end clears the run marker")
            #expect(!afterCrash.transitions.contains { $0.digest?.description == digestC && $0.phase == .pulling && $0.at > refusalC.at },
                    "C is not tried again while the tag points at it")

            // Two abnormal exits while serving B: the breaker refuses B and A serves.
            for attempt in 3...4 {
                let run = try AgentProcess(kiln, common, log: dir.appendingPathComponent("run\(attempt).log"))
                defer { run.kill() }
                try RolloutEndToEndTests.waitFor("run \(attempt) serving", timeout: 60) {
                    state()?.running?.pid == run.process.processIdentifier
                }
                run.kill()
            }
            #expect(state()?.abnormalExits?[digestB] == 1, "the second exit is counted at the next start")
            let run5 = try AgentProcess(kiln, common + ["--duration", "3s"], log: dir.appendingPathComponent("run5.log"))
            defer { run5.kill() }
            let report5 = try run5.wait(timeout: 120)
            #expect(digestServed(report5) == Digest.of(a).description, "the breaker falls back to the previous model")
            let afterLoop = try #require(state())
            // B's refusal is recorded; the rejected list itself keeps only the digest the tag points at (C).
            #expect(afterLoop.transitions.contains {
                $0.digest?.description == digestB && $0.refusal == .crashLoop && $0.detail.contains("2 abnormal exits")
            }, "\(afterLoop.transitions.suffix(5))")
            #expect(afterLoop.active?.digest.description == digestA)

            // `kiln status` names both refusals and their reasons.
            let status = try TestEnvironment.run(kiln, ["status", "--state-dir", stateDir.path])
            #expect(status.status == 0)
            #expect(status.stdout.contains("crashed while in probation") && status.stdout.contains("crash loop"), "\(status.stdout)")
        }
    }
}
