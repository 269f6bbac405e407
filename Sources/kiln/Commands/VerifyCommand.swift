import Foundation
import KilnAgent
import KilnCore
import KilnInference
import KilnReference

/// `kiln verify`: runs a model on golden data (ONNX's test_data_set format) and checks the outputs.
struct VerifyCommand: Command {
    static let name = "verify"
    static let summary = "Check a model's outputs against golden input/output .pb files"
    static let help = """
        Usage: kiln verify MODEL DIR... [--backend B] [--precision P] [--onnx-tolerance | --rtol R --atol A] [--threads N]

        Builds MODEL with the backend, runs every case in each DIR and compares the outputs.
        A DIR holds input_K.pb/output_K.pb (serialized ONNX TensorProto), or test_data_set_N/
        folders that do. Inputs and outputs match the model's by position.

        Prints the largest absolute, relative and normalised error of every output. Float outputs
        pass by the rule the rollout gate uses for the precision: max |actual - expected| /
        max |expected| at most 2e-3 for fp32, 3e-2 fp16, 6e-2 bf16, 0.15 int8 (which must also keep
        the top-1 class of 90 % of rows). ONNX's node-test rule |actual - expected| <= atol +
        rtol * |expected| stays available. Other types must match exactly.

          --backend B        backend to build with: reference (default), tensorrt, auto
          --precision P      the precision whose rule applies (default fp32)
          --onnx-tolerance   ONNX's node-test rule: rtol 1e-3, atol 1e-7
          --rtol R, --atol A ONNX's rule with these tolerances (the other keeps ONNX's default)
          --threads N        CPU threads for the reference backend (default: all cores)

        Exit status: 0 when every output of every case is within tolerance, 3 when any is not
        or the model is invalid, 2 on usage errors.

        Example: kiln verify model.onnx test_data_set_0 test_data_set_1 --rtol 1e-4
        """

    static func run(_ arguments: inout Arguments) async throws -> ExitCode {
        let backendName = try arguments.option("--backend") ?? "reference"
        let rtol = try arguments.option("--rtol", "a non-negative number", { Double($0).flatMap { $0 >= 0 ? $0 : nil } })
        let atol = try arguments.option("--atol", "a non-negative number", { Double($0).flatMap { $0 >= 0 ? $0 : nil } })
        let onnxTolerance = arguments.flag("--onnx-tolerance")
        let precision = try arguments.option("--precision", "one of fp32, fp16, int8, bf16, best") { Precision(rawValue: $0) } ?? .fp32
        let verifier = onnxTolerance || rtol != nil || atol != nil
            ? GoldenVerifier(rtol: rtol ?? 1e-3, atol: atol ?? 1e-7) : GoldenVerifier(precision: precision)
        let threads = try arguments.option("--threads", "a thread count ≥ 0", { Int($0).flatMap { $0 >= 0 ? $0 : nil } }) ?? 0
        let modelPath = try arguments.required("MODEL (an .onnx file)")
        var directories: [URL] = []
        while let dir = arguments.positional() { directories.append(URL(fileURLWithPath: dir)) }
        try arguments.finish()
        guard !directories.isEmpty else {
            throw UsageError("kiln verify: missing DIR (a folder of input_K.pb/output_K.pb or test_data_set_N/); see `kiln help verify`")
        }
        let backend = try BackendCatalog.standard(engineBuildChild: .kiln).select(backendName)
        guard let data = FileManager.default.contents(atPath: modelPath) else {
            throw UsageError("kiln verify: cannot read model \(modelPath); pass the path of an .onnx file")
        }
        let cases = try GoldenVerifier.loadCases(directories)
        // Building and running block: keep them off the cooperative pool.
        let results = try await runBlocking {
            let options = BuildOptions(threads: threads)
            let artifact = try backend.build(model: ModelSource(bytes: [UInt8](data), name: modelPath), options: options)
            let runner = try backend.load(artifact, options: options)
            return try verifier.verify(runner: runner, cases: cases)
        }
        var failures = 0
        for result in results {
            for o in result.outputs {
                let status = o.passed ? "ok" : "FAIL (\(o.problem ?? "outside tolerance"))"
                print("\(result.directory.path)  \(o.name)  max abs \(format(o.maxAbsoluteError))  max rel \(format(o.maxRelativeError))"
                      + (o.normalizedError.map { "  normalised \(format($0))" } ?? "") + "  \(status)")
                if !o.passed { failures += 1 }
            }
        }
        let total = results.reduce(0) { $0 + $1.outputs.count }
        print("verify: \(total - failures)/\(total) outputs within \(verifier.rule) (\(results.count) cases, backend \(backend.name))")
        return failures == 0 ? .ok : .invalidModel
    }

    static func format(_ v: Double) -> String { v.isFinite ? String(format: "%.3e", v) : "\(v)" }

    /// Runs blocking work on a dedicated thread and resumes with its result.
    static func runBlocking<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread { continuation.resume(with: Result { try work() }) }
            thread.stackSize = 8 << 20
            thread.start()
        }
    }
}
