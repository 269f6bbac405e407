import Foundation
import KilnTestSupport
import Testing

/// `kiln verify` end to end: the real CLI on ONNX's own test data.
@Suite("kiln verify")
struct VerifyCommandTests {
    @Test("exits 0 and prints the errors when every output is within tolerance, 3 when one is not")
    func exitStatusFollowsTolerance() throws {
        guard let root = try TestEnvironment.dataFile("onnx-node") else { return }
        let kiln = TestEnvironment.kilnExecutable
        let conv = root.appendingPathComponent("test_basic_conv_with_padding")
        let ok = try TestEnvironment.run(kiln, ["verify", conv.appendingPathComponent("model.onnx").path, conv.path])
        #expect(ok.status == 0, "\(ok.stdout)\(ok.stderr)")
        #expect(ok.stdout.contains("max abs") && ok.stdout.contains("max rel") && ok.stdout.contains("1/1 outputs"))
        // The same model against another test's golden data (same shapes, other values) must fail.
        let other = root.appendingPathComponent("test_basic_conv_without_padding/test_data_set_0")
        let bad = try TestEnvironment.run(kiln, ["verify", conv.appendingPathComponent("model.onnx").path, other.path])
        #expect(bad.status == 3, "\(bad.stdout)\(bad.stderr)")
        #expect(bad.stdout.contains("FAIL"))
        // A tolerance flag that is not a number is a usage error naming the flag.
        let usage = try TestEnvironment.run(kiln, ["verify", conv.appendingPathComponent("model.onnx").path, conv.path, "--rtol", "abc"])
        #expect(usage.status == 2 && usage.stderr.contains("--rtol"))
    }
}
