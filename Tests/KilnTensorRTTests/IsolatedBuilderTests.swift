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
        var request: EngineBuildRequest {
            EngineBuildRequest(modelPath: dir.appendingPathComponent("model.onnx").path, enginePath: engine,
                               options: BuildOptions(precision: .fp16, workspaceBytes: 1024 << 20))
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
        #expect { try f.builder("always", floor: 128 << 20).build(f.request) } throws: { error in
            guard let e = error as? TensorRTError else { return false }
            return e.kind == .outOfMemory && e.message.contains("1024 MiB") && e.message.contains("128 MiB floor")
        }
        #expect(f.attemptedMiB == [1024, 512, 256, 128])
    }

    @Test("a non-memory failure is not retried and keeps the child's error kind")
    func parseErrorsAreNotRetried() throws {
        let f = try Self.fixture()
        defer { try? FileManager.default.removeItem(at: f.dir) }
        #expect { try f.builder("parse").build(f.request) } throws: { error in
            guard let e = error as? TensorRTError else { return false }
            return e.kind == .parseFailed && e.message.contains("node 3 (Resize)") && e.exitCode == .invalidModel
        }
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

    @Test("protocol events round-trip through their JSON lines; other output is not an event")
    func events() {
        let e = EngineBuildEvent(event: "result", status: "ok", workspaceBytes: 1 << 27, seconds: 1.5, tensorrt: "8.6.1", method: "trtexec")
        #expect(EngineBuildEvent.parse(e.jsonLine) == e)
        #expect(EngineBuildEvent.parse("[TRT] [E] 2: Error Code 2: OutOfMemory") == nil)
    }
}
