import Foundation
import KilnCore
import KilnInference
import KilnTensorRT
import KilnTestSupport
import Testing

/// The isolated builder against a real child process that fails the way TensorRT builds fail on
/// small boards: SIGKILLed by the OOM killer above one workspace, TensorRT's documented
/// allocation-failure messages above another, success below.
@Suite("Isolated builder and adaptive workspace")
struct IsolatedBuilderTests {
    /// A stand-in for `kiln build-engine`, written as a shell script; behaviour from FAKE_MODE.
    static let childScript = #"""
#!/bin/sh
# usage: child build-engine --request FILE --workspace BYTES
ws=0
while [ $# -gt 0 ]; do
  case "$1" in --workspace) ws="$2"; shift 2;; *) shift;; esac
done
mib=$((ws / 1048576))
echo "$mib" >> "$FAKE_LOG"
if [ "$CUDA_MODULE_LOADING" != "LAZY" ]; then
  echo '{"event":"result","status":"buildFailed","message":"CUDA_MODULE_LOADING is not LAZY"}'; exit 1
fi
echo '{"event":"progress","phase":"Building engine","step":1,"steps":3}'
case "$FAKE_MODE" in
  oom)
    if [ "$mib" -gt 512 ]; then
      echo "[TRT] [I] [MemUsageChange] Init builder kernel library: CPU +894, GPU +1104, now: CPU 1406, GPU 3051 (MiB)"
      kill -9 $$
    fi
    if [ "$mib" -gt 128 ]; then
      echo "[TRT] [W] Tactic Device request: 538MB Available: 166MB. Device memory is insufficient to use tactic."
      echo "[TRT] [E] 2: [virtualMemoryBuffer.cpp::resizePhysical::145] Error Code 2: OutOfMemory (no further information)"
      echo '{"event":"result","status":"buildFailed","message":"TensorRT could not build the engine"}'
      exit 1
    fi
    printf 'PLAN-%s' "$mib" > "$FAKE_ENGINE"
    echo "{\"event\":\"result\",\"status\":\"ok\",\"workspaceBytes\":$ws,\"tensorrt\":\"10.3.0\",\"method\":\"bridge\"}"
    exit 0;;
  always)
    echo "[TRT] [E] 1: [defaultAllocator.cpp::allocate::20] Error Code 1: Cuda Runtime (out of memory)"
    echo "[TRT] [E] Requested amount of GPU memory (1073741824 bytes) could not be allocated. There may not be enough free memory for allocation to succeed."
    exit 1;;
  parse)
    echo '{"event":"result","status":"parseFailed","message":"the ONNX parser rejected the model: node 3 (Resize): unsupported mode"}'
    exit 3;;
  noimpl)
    # mmdeploy#1059 / jetson-inference#1499 on a Jetson: memory warnings, then Error Code 10 at a small workspace.
    if [ "$mib" -lt 512 ]; then
      echo '{"event":"log","severity":2,"message":"Tactic Device request: 538MB Available: 166MB. Device memory is insufficient to use tactic."}'
      echo '{"event":"log","severity":2,"message":"Skipping tactic 3 due to insufficient memory on requested size of 538 detected for tactic 0x0000000000000004."}'
      echo '{"event":"log","severity":1,"message":"10: [optimizer.cpp::computeCosts::3728] Error Code 10: Internal Error (Could not find any implementation for node /model.0/conv/Conv.)"}'
      echo '{"event":"result","status":"noImplementation","message":"TensorRT could not build the engine: Error Code 10"}'
      exit 1
    fi
    printf 'PLAN-%s' "$mib" > "$FAKE_ENGINE"
    echo "{\"event\":\"result\",\"status\":\"ok\",\"workspaceBytes\":$ws,\"tensorrt\":\"10.3.0\",\"method\":\"bridge\"}"
    exit 0;;
  warnings)
    # Memory warnings of a build that then fails for another reason: not a memory failure.
    echo "[TRT] [W] Tactic Device request: 538MB Available: 166MB. Device memory is insufficient to use tactic."
    echo "[TRT] [W] Skipping tactic 3 due to insufficient memory on requested size of 538 detected for tactic 0x0000000000000004."
    echo '{"event":"log","severity":1,"message":"4: [network.cpp::validate::3008] Error Code 4: Internal Error (images: dynamic input is missing dimensions in profile 0.)"}'
    echo '{"event":"result","status":"buildFailed","message":"TensorRT could not build the engine: Error Code 4"}'
    exit 1;;
  hang)
    sleep 30; exit 0;;
esac
"""#

    struct Fixture {
        let dir: URL
        let script: String
        let log: String
        let engine: String
        func builder(_ mode: String, timeout: Double = 60, floor: Int = 64 << 20) -> IsolatedBuilder {
            IsolatedBuilder(child: EngineBuildChildCommand(executable: script, arguments: ["build-engine"]), timeoutSeconds: timeout,
                            workspace: AdaptiveWorkspace(floorBytes: floor),
                            environment: ["FAKE_MODE": mode, "FAKE_LOG": log, "FAKE_ENGINE": engine, "CUDA_MODULE_LOADING": "EAGER"])
        }
        var request: EngineBuildRequest { request() }
        func request(workspaceMiB: Int = 1024, floorMiB: Int? = nil, capMiB: Int? = nil) -> EngineBuildRequest {
            var options = BuildOptions(precision: .fp16, workspaceBytes: workspaceMiB << 20)
            options.workspaceFloorBytes = floorMiB.map { $0 << 20 }
            options.workspaceCapBytes = capMiB.map { $0 << 20 }
            return EngineBuildRequest(modelPath: dir.appendingPathComponent("model.onnx").path, enginePath: engine, options: options)
        }
        var attemptedMiB: [Int] {
            ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").compactMap { Int($0) }
        }
    }

    static func fixture() throws -> Fixture {
        let dir = try TestEnvironment.temporaryDirectory("kiln-isolated")
        let script = dir.appendingPathComponent("fake-kiln").path
        try childScript.write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        return Fixture(dir: dir, script: script, log: dir.appendingPathComponent("attempts").path, engine: dir.appendingPathComponent("engine.plan").path)
    }

    @Test("an OOM-killed child and TensorRT's OutOfMemory errors halve the workspace until the build fits")
    func halvesUntilItFits() throws {
        let f = try Self.fixture()
        defer { try? FileManager.default.removeItem(at: f.dir) }
        var progress: [String] = []
        let result = try f.builder("oom").build(f.request) { event in
            if event.event == "progress", let phase = event.phase { progress.append(phase) }
        }
        #expect(f.attemptedMiB == [1024, 512, 256, 128])
        #expect(result.workspaceBytes == 128 << 20, "the workspace that succeeded is what the cache records")
        #expect(result.plan == Array("PLAN-128".utf8))
        #expect(result.attempts.map(\.workspaceBytes) == [1024 << 20, 512 << 20, 256 << 20, 128 << 20])
        #expect(result.attempts[0].outcome.contains("SIGKILL"))
        #expect(result.attempts[1].outcome.contains("OutOfMemory") || result.attempts[1].outcome.contains("Tactic Device request"))
        #expect(result.attempts[3].outcome == "ok")
        #expect(result.tensorrtVersion == "10.3.0")
        #expect(progress.count == 4, "progress comes back over the pipe from every attempt")
    }

    @Test("the first workspace is capped at half the free memory")
    func capsAtFreeMemory() throws {
        let f = try Self.fixture()
        defer { try? FileManager.default.removeItem(at: f.dir) }
        let result = try f.builder("oom").build(f.request, freeMemoryBytes: 200 << 20)
        #expect(f.attemptedMiB == [100])
        #expect(result.workspaceBytes == 100 << 20)
    }

    @Test("memory failures down to the floor end in an out-of-memory error listing every attempt")
    func stopsAtTheFloor() throws {
        let f = try Self.fixture()
        defer { try? FileManager.default.removeItem(at: f.dir) }
        let e = try #require(throws: TensorRTError.self) { try f.builder("always", floor: 128 << 20).build(f.request) }
        #expect(e.kind == .outOfMemory && e.message.contains("1024 MiB") && e.message.contains("128 MiB floor"), "\(e)")
        #expect(f.attemptedMiB == [1024, 512, 256, 128])
    }

    @Test("a non-memory failure is not retried and keeps the child's error kind")
    func parseErrorsAreNotRetried() throws {
        let f = try Self.fixture()
        defer { try? FileManager.default.removeItem(at: f.dir) }
        let e = try #require(throws: TensorRTError.self) { try f.builder("parse").build(f.request) }
        #expect(e.kind == .parseFailed && e.message.contains("node 3 (Resize)") && e.exitCode == .invalidModel, "\(e)")
        #expect(f.attemptedMiB == [1024])
    }

    @Test("a hung build is killed at the timeout and the parent carries on")
    func timeout() throws {
        let f = try Self.fixture()
        defer { try? FileManager.default.removeItem(at: f.dir) }
        let start = Date()
        #expect { try f.builder("hang", timeout: 1.5).build(f.request) } throws: { ($0 as? TensorRTError)?.kind == .cancelled }
        #expect(Date().timeIntervalSince(start) < 15)
        #expect(f.attemptedMiB == [1024])
    }

    @Test("the adaptive policy halves, respects the floor and the free-memory cap")
    func policy() {
        let p = AdaptiveWorkspace(floorBytes: 64 << 20)
        #expect(p.next(after: 256 << 20) == 128 << 20)
        #expect(p.next(after: 100 << 20) == 64 << 20)
        #expect(p.next(after: 64 << 20) == nil)
        #expect(p.initialWorkspace(requested: 1 << 30, freeBytes: 512 << 20) == 256 << 20)
        #expect(p.initialWorkspace(requested: 1 << 30, freeBytes: 16 << 20) == 64 << 20)
    }

    @Test("'Could not find any implementation' after memory warnings grows the workspace up to the profile's cap")
    func noImplementationGrows() throws {
        let f = try Self.fixture()
        defer { try? FileManager.default.removeItem(at: f.dir) }
        let result = try f.builder("noimpl").build(f.request(workspaceMiB: 256, capMiB: 2048))
        #expect(f.attemptedMiB == [256, 512])
        #expect(result.workspaceBytes == 512 << 20)
        #expect(result.attempts[0].outcome.contains("no implementation") || result.attempts[0].outcome.contains("Could not find any implementation"))
    }

    @Test("'Could not find any implementation' at the cap ends in a no-implementation error, not out-of-memory")
    func noImplementationAtTheCap() throws {
        let f = try Self.fixture()
        defer { try? FileManager.default.removeItem(at: f.dir) }
        let e = try #require(throws: TensorRTError.self) { try f.builder("noimpl").build(f.request(workspaceMiB: 256, capMiB: 256)) }
        #expect(e.kind == .noImplementation && e.message.contains("256 MiB") && e.message.contains("workspaceCapMiB"), "\(e)")
        #expect(f.attemptedMiB == [256])
    }

    @Test("TensorRT's memory warnings before a non-memory failure do not trigger a memory retry")
    func warningsAreNotMemoryFailures() throws {
        let f = try Self.fixture()
        defer { try? FileManager.default.removeItem(at: f.dir) }
        let e = try #require(throws: TensorRTError.self) { try f.builder("warnings").build(f.request) }
        #expect(e.kind == .buildFailed && e.message.contains("Error Code 4"), "\(e)")
        #expect(f.attemptedMiB == [1024])
    }

    @Test("the profile's workspace floor stops memory retries above the builder's own floor")
    func profileFloor() throws {
        let f = try Self.fixture()
        defer { try? FileManager.default.removeItem(at: f.dir) }
        let e = try #require(throws: TensorRTError.self) { try f.builder("always", floor: 32 << 20).build(f.request(floorMiB: 256)) }
        #expect(e.kind == .outOfMemory && e.message.contains("256 MiB floor"), "\(e)")
        #expect(f.attemptedMiB == [1024, 512, 256])
    }

    @Test("the adaptive policy grows to the cap and free memory after 'no implementation'")
    func growth() {
        let p = AdaptiveWorkspace(floorBytes: 32 << 20, capBytes: 1024 << 20)
        #expect(p.larger(after: 256 << 20, initial: 256 << 20, freeBytes: nil) == 512 << 20)
        #expect(p.larger(after: 768 << 20, initial: 256 << 20, freeBytes: nil) == 1024 << 20)
        #expect(p.larger(after: 1024 << 20, initial: 256 << 20, freeBytes: nil) == nil)
        #expect(p.larger(after: 256 << 20, initial: 256 << 20, freeBytes: 600 << 20) == 300 << 20)
        #expect(AdaptiveWorkspace().larger(after: 256 << 20, initial: 256 << 20, freeBytes: nil) == nil, "no cap: the first workspace is the limit")
        var options = BuildOptions()
        options.workspaceFloorBytes = 256 << 20
        #expect(p.honouring(options).floorBytes == 256 << 20)
        #expect(p.honouring(BuildOptions()).floorBytes == 32 << 20)
    }

    @Test("protocol events round-trip through their JSON lines; other output is not an event")
    func events() {
        let e = EngineBuildEvent.result(status: "ok", workspaceBytes: 1 << 27, seconds: 1.5, tensorrt: "8.6.1", method: "trtexec")
        #expect(EngineBuildEvent.parse(e.jsonLine) == e)
        #expect(EngineBuildEvent.parse("[TRT] [E] 2: Error Code 2: OutOfMemory") == nil)
    }
}
