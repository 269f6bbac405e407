import Foundation
import KilnAgent
import KilnCore
import KilnInference
import KilnRegistry
import KilnSystem
import KilnTensorRT
import Synchronization

/// `kiln selftest`: the first-contact self-test of a device (see `SelfTest`).
struct SelfTestCommand: Command {
    static let name = "selftest"
    static let summary = "Check CUDA, NVRTC and TensorRT on this device and compare TensorRT's engines with the reference backend"
    static let help = """
        Usage: kiln selftest [--output DIR] [--frames N] [--json] [flags]

        The first thing to run on a new device. It checks, in order:
          cuda       the NVIDIA driver loads and GPU 0 answers (driver version, SM, memory)
          nvrtc      NVRTC compiles a kernel for the GPU's SM and, with a GPU, the kernel runs and
                     its result is checked element by element
          tensorrt   libnvinfer loads, its version, the headers this kiln's bridge was compiled against
          reference  Kiln's demo model and a small convolutional net build with the reference
                     backend; an independent build of each agrees with it, and an engine built from
                     altered weights is refused by the accuracy gate (the comparison can fail)
          tensorrt/MODEL/PRECISION
                     with TensorRT: each model built at fp32 and fp16 (int8 for models with Q/DQ
                     nodes, DLA core 0 where the profile has DLA), run on N preprocessed frames,
                     every output compared with the reference backend's (normalised error limit
                     2e-3 fp32, 3e-2 fp16, 6e-2 bf16, 0.15 and 90 % top-1 agreement int8), with
                     build, load and inference times
        Where a component is missing, its line says which library, where Kiln looked, and the fix.

        Writes DIR/report.json (every check, its status, times and comparisons), DIR/selftest.log,
        and DIR/kiln-selftest.tar holding both, to attach to a bug report.

        Flags:
          --output DIR    Where to write the report (default ./kiln-selftest-YYYYMMDDTHHMMSSZ)
          --frames N      Frames per comparison, 1 to 64 (default 4)
          --json          Also print report.json on standard output
        \(DeviceContext.flagHelp)

        Exit status: 0 every check passed; 1 a check failed; 4 none failed but a component
        (TensorRT, the CUDA driver, NVRTC) is missing; 2 usage error.

        Examples:
          kiln selftest
          kiln selftest --output /tmp/selftest --frames 8
        """

    static func run(_ arguments: inout Arguments) async throws -> ExitCode {
        let json = arguments.flag("--json")
        let frames = try arguments.option("--frames", "a frame count from 1 to 64", { Int($0).flatMap { (1...64).contains($0) ? $0 : nil } }) ?? 4
        let stamp = Date().formatted(.iso8601).filter { !"-:".contains($0) }
        let output = try arguments.option("--output") ?? "kiln-selftest-\(stamp)"
        let context = try DeviceContext.resolve(&arguments)
        try arguments.finish()
        do {
            try AtomicFile.createDirectory(output)
        } catch {
            throw UsageError("kiln selftest: cannot create the report folder \(output) (\(error)); pass a writable --output DIR")
        }
        let lines = LogLines()
        let test = SelfTest(frames: frames, tensorRT: TensorRTBackend(builder: IsolatedBuilder(child: .kiln)),
                            dlaCores: context.detection.profile.dlaCores, kilnVersion: Kiln.versionText) { line in
            lines.append(line)
            FileHandle.standardError.write(Data("kiln selftest: \(line)\n".utf8))
        }
        let report = try await VerifyCommand.runBlocking { test.run() }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let reportBytes = [UInt8](try encoder.encode(report))
        var log = lines.text
        log += "\nbackends:\n" + BackendProbe.statuses().map { "  \($0.name): \($0.available ? "available" : "unavailable"): \($0.detail)" }.joined(separator: "\n")
        log += "\ndevice: \(context.detection.facts.deviceTreeModel ?? "no device-tree model"), profile \(context.detection.profile.name)\n"
        let logBytes = Array(log.utf8)
        let tar = try TarArchive.write([
            TarArchive.Entry(path: "kiln-selftest/report.json", contents: reportBytes),
            TarArchive.Entry(path: "kiln-selftest/selftest.log", contents: logBytes),
        ])
        for (name, bytes) in [("report.json", reportBytes), ("selftest.log", logBytes), ("kiln-selftest.tar", tar)] {
            try AtomicFile.write(bytes, to: "\(output)/\(name)")
        }
        if json { print(String(decoding: reportBytes, as: UTF8.self)) }
        let counts = Dictionary(grouping: report.checks, by: \.status).mapValues(\.count)
        let summary = [SelfTest.Status.passed, .failed, .missing, .skipped].compactMap { s in counts[s].map { "\($0) \(s.rawValue)" } }
        print("selftest: \(summary.joined(separator: ", ")); report \(output)/report.json, attach \(output)/kiln-selftest.tar to bug reports")
        for missing in report.missing { print("missing: \(missing)") }
        for failed in report.checks where failed.status == .failed { print("FAILED: \(failed.name): \(failed.detail)") }
        return report.exitCode
    }
}

/// The self-test's log lines, collected from the test's thread for `selftest.log`.
final class LogLines: Sendable {
    private let lines = Mutex<[String]>([])
    /// Appends one line.
    func append(_ line: String) { lines.withLock { $0.append(line) } }
    /// Every line, newline-terminated.
    var text: String { lines.withLock { $0.map { $0 + "\n" }.joined() } }
}
