import Foundation
import Glibc
import KilnAgent
import KilnCore
import KilnInference
import KilnReference
import KilnTensorRT
import KilnTestSupport
import Testing

/// TensorRT builds are bounded like every other isolated build: the real `kiln build-engine`
/// child (the stub bridge here, so it builds with trtexec) runs under `RLIMIT_DATA` = the memory
/// limit but no `RLIMIT_AS` (CUDA reserves the GPU's address range at initialisation), and a
/// timeout kills its whole process group, trtexec and whatever trtexec started included.
///
/// No TensorRT exists on this machine, so `trtexecPath` names a probe that records what the spawn
/// path gave it (its rlimits, its process group) and then passes or hangs.
@Suite(.serialized) struct TensorRTBuildLimitsTests {
    /// Stands in for trtexec: `--help` prints TensorRT 10.3's banner; a build records
    /// /proc/self/limits and the process group, then writes the engine and passes, or (PROBE_MODE
    /// hang) starts a sleeper of its own and waits.
    static let probe = #"""
#!/bin/sh
for a in "$@"; do
  case "$a" in
    --help) echo "&&&& RUNNING TensorRT.trtexec [TensorRT v100300] # trtexec --help"; exit 0;;
    --saveEngine=*) engine="${a#--saveEngine=}";;
  esac
done
cat /proc/self/limits > "$PROBE_DIR/limits"
echo $$ > "$PROBE_DIR/pid"
if [ "$PROBE_MODE" = hang ]; then
  sleep 300 &
  echo $! > "$PROBE_DIR/sleeper"
  wait
fi
printf 'PLAN' > "$engine"
echo "&&&& PASSED TensorRT.trtexec [TensorRT v100300] # trtexec --onnx"
"""#

    struct Fixture {
        let dir: URL
        let request: EngineBuildRequest

        init() throws {
            dir = try TestEnvironment.temporaryDirectory("kiln-trt-limits")
            let probe = dir.appendingPathComponent("trtexec").path
            try Data(TensorRTBuildLimitsTests.probe.utf8).write(to: URL(fileURLWithPath: probe))
            chmod(probe, 0o755)
            let model = dir.appendingPathComponent("demo.onnx").path
            try Data(DemoModel.bytes()).write(to: URL(fileURLWithPath: model))
            request = EngineBuildRequest(modelPath: model, enginePath: dir.appendingPathComponent("demo.plan").path,
                                         options: BuildOptions(precision: .fp16), method: .trtexec, trtexecPath: probe)
        }

        func builder(mode: String, memory: Int?, timeout: Double) -> IsolatedBuilder {
            IsolatedBuilder(child: EngineBuildChildCommand(executable: TestEnvironment.kilnExecutable, arguments: ["build-engine"]),
                            timeoutSeconds: timeout, environment: ["PROBE_DIR": dir.path, "PROBE_MODE": mode], memoryLimitBytes: memory)
        }

        /// The probe's `Max …` line of /proc/self/limits: soft and hard values.
        func limit(_ name: String) throws -> (String, String) {
            let text = try String(contentsOf: dir.appendingPathComponent("limits"), encoding: .utf8)
            let line = try #require(text.split(separator: "\n").first { $0.hasPrefix(name) }, "\(name) in \(text)")
            let fields = line.dropFirst(name.count).split(separator: " ")
            return (String(fields[0]), String(fields[1]))
        }
    }

    /// Whether process `pid` is gone (or a zombie nobody has reaped yet: it holds no memory).
    static func gone(_ pid: pid_t) -> Bool {
        if kill(pid, 0) != 0 { return errno == ESRCH }
        let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
        return stat.split(separator: ")").last?.split(separator: " ").first == "Z"
    }

    @Test("a TensorRT build child runs under RLIMIT_DATA = the memory limit with its address space left as the agent's")
    func dataLimitWithoutAddressLimit() throws {
        let f = try Fixture()
        defer { try? FileManager.default.removeItem(at: f.dir) }
        let result = try f.builder(mode: "pass", memory: 3 << 30, timeout: 120).build(f.request)
        #expect(result.plan == Array("PLAN".utf8))
        #expect(result.method == "trtexec" && result.tensorrtVersion == "10.3.0")
        let data = try f.limit("Max data size")
        #expect(data.0 == String(3 << 30) && data.1 == String(3 << 30), "\(data)")
        var own = rlimit()
        getrlimit(__rlimit_resource_t(RLIMIT_AS.rawValue), &own)
        let address = try f.limit("Max address space")
        let expected = own.rlim_cur == rlim_t.max ? "unlimited" : String(own.rlim_cur)
        #expect(address.0 == expected, "RLIMIT_AS stays the agent's (\(expected)): CUDA's reservations; got \(address)")

        // Without a memory limit nothing is set; the reference backends' children keep RLIMIT_AS.
        #expect(f.builder(mode: "pass", memory: nil, timeout: 1).limits.arguments().isEmpty)
        #expect(f.builder(mode: "pass", memory: 1 << 30, timeout: 1).limits.arguments() == ["--memory-limit", String(1 << 30), "--no-address-limit"])
        #expect(ChildLimits(memoryBytes: 1 << 30).arguments() == ["--memory-limit", String(1 << 30)])
    }

    @Test("a TensorRT build past its timeout is killed with its whole process group: trtexec and what it started")
    func timeoutKillsTheGroup() throws {
        let f = try Fixture()
        defer { try? FileManager.default.removeItem(at: f.dir) }
        let start = MonotonicClock.now
        #expect {
            try f.builder(mode: "hang", memory: 2 << 30, timeout: 3).build(f.request)
        } throws: { error in
            guard let e = error as? TensorRTError else { return false }
            return e.kind == .cancelled && e.message.contains("timeout 3 s")
        }
        #expect(MonotonicClock.now - start < 30)
        let trtexec = try #require(pid_t(try String(contentsOf: f.dir.appendingPathComponent("pid"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)))
        let sleeper = try #require(pid_t(try String(contentsOf: f.dir.appendingPathComponent("sleeper"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)))
        var waited = 0.0
        while !(Self.gone(trtexec) && Self.gone(sleeper)), waited < 5 {
            usleep(100_000)
            waited += 0.1
        }
        #expect(Self.gone(trtexec), "trtexec (pid \(trtexec)) outlived the timeout")
        #expect(Self.gone(sleeper), "trtexec's own child (pid \(sleeper)) outlived the timeout")
    }

    @Test("the agent gives TensorRT's builder the isolation's memory limit and timeout; other backends build in the isolated child")
    func agentWiring() throws {
        let child = IsolatedChild(command: EngineBuildChildCommand(executable: "/bin/false", arguments: []),
                                  limits: ChildLimits(memoryBytes: 1 << 30, timeoutSeconds: 600))
        let trt = TensorRTBackend(builder: IsolatedBuilder(child: EngineBuildChildCommand(executable: "/bin/false", arguments: [])))
        let bounded = try #require(EngineFactory.isolated(trt, child: child) as? TensorRTBackend)
        #expect(bounded.builder.memoryLimitBytes == 1 << 30 && bounded.builder.timeoutSeconds == 600)
        #expect(bounded.builder.limits.limitsAddressSpace == false)
        #expect(EngineFactory.isolated(ReferenceBackend(), child: child) is IsolatedBackend)
        #expect(EngineFactory.isolated(trt, child: nil) is TensorRTBackend)
    }
}
