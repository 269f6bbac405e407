import Foundation
import KilnAgent
import KilnRegistry
import Testing

/// A rollout refuses a digest only for the model's own faults: corruption in transit is retried.
@Suite(.serialized) struct RolloutTransportFaultTests {
    @Test func aCorruptTransferIsRetriedAndTheDigestIsTakenOnceTheSourceIsHealthy() async throws {
        let f = try await RolloutControllerTests.Fixture()
        let controller = try f.controller()
        let bytes = RolloutControllerTests.variant(0.125)
        let b = try await f.publish(bytes, name: "b")
        // The model blob arrives corrupt (same size, one byte flipped), as through a bad middlebox.
        let blob = OCILayout(root: f.layout).blobPath(Digest.of(bytes))
        let original = try Data(contentsOf: URL(fileURLWithPath: blob))
        var corrupt = original
        corrupt[corrupt.count / 2] ^= 0xFF
        try corrupt.write(to: URL(fileURLWithPath: blob))
        await controller.pollOnce()
        let failed = controller.snapshot()
        #expect(failed.rejected.isEmpty, "a transfer fault refused the digest: \(failed.rejected)")
        #expect(failed.active?.digest == f.a.digest)
        #expect(f.slot.current.generation == 1)
        // The source heals: the same digest is taken at the next poll.
        try original.write(to: URL(fileURLWithPath: blob))
        await controller.pollOnce()
        #expect(controller.snapshot().active?.digest == b)
        #expect(f.slot.current.generation == 2)
    }
}
