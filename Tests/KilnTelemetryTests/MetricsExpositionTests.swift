import Foundation
import KilnCore
import KilnTelemetry
import KilnTestSupport
import Testing

@Suite struct MetricsExpositionTests {
    @Test func countersGaugesAndHistogramsRenderInPrometheusTextFormat() {
        let registry = MetricsRegistry()
        let c = registry.counter("t_total", help: "A counter.", labels: ["a"])
        c.labels("x").increment()
        c.labels("x").increment(by: 2)
        c.labels("y\"q\\\n").increment()
        let g = registry.gauge("t_gauge", help: "A gauge\nwith two lines.")
        g.labels().set(2.5)
        g.labels().add(-1)
        let h = registry.histogram("t_seconds", help: "A histogram.", labels: ["stage"], buckets: [0.1, 1])
        for v in [0.0625, 0.09375, 0.5, 3] { h.labels("s").observe(v) }
        let text = registry.exposition()
        #expect(text == """
            # HELP t_total A counter.
            # TYPE t_total counter
            t_total{a="x"} 3
            t_total{a="y\\"q\\\\\\n"} 1
            # HELP t_gauge A gauge\\nwith two lines.
            # TYPE t_gauge gauge
            t_gauge 1.5
            # HELP t_seconds A histogram.
            # TYPE t_seconds histogram
            t_seconds_bucket{stage="s",le="0.1"} 2
            t_seconds_bucket{stage="s",le="1"} 3
            t_seconds_bucket{stage="s",le="+Inf"} 4
            t_seconds_sum{stage="s"} 3.65625
            t_seconds_count{stage="s"} 4

            """)
    }

    @Test func kilnMetricsUseTheExactPublishedNames() {
        let m = KilnMetrics()
        m.recordFrame(stream: "cam0", stages: [.capture: 0.002, .preprocess: 0.003, .infer: 0.01, .postprocess: 0.001, .endToEnd: 0.016])
        m.recordDrop(stream: "cam0", reason: "stale", count: 2)
        m.setFPS(stream: "cam0", 29.5)
        m.setModel(name: "yolo", digest: "sha256:ab", backend: "tensorrt", precision: "fp16")
        m.setModel(name: "yolo", digest: "sha256:cd", backend: "tensorrt", precision: "fp16")
        m.recordBuild(result: "success", seconds: 42)
        m.recordCacheLookup(hit: true)
        m.recordCacheLookup(hit: false)
        m.recordCacheLookup(hit: false)
        m.setRolloutState("building")
        m.setDeviceInfo(profile: "orin-nano", sm: "8.7", tensorrt: "10.3.0", cuda: "12.6")
        m.recordSensors(JetsonSensorSample(gpuLoadRatio: 0.5, temperaturesCelsius: ["gpu-thermal": 44], railWatts: ["VDD_IN": 5.9]))
        let text = m.exposition()
        for line in [
            "kiln_frames_total{stream=\"cam0\"} 1",
            "kiln_frames_dropped_total{stream=\"cam0\",reason=\"stale\"} 2",
            "kiln_fps{stream=\"cam0\"} 29.5",
            "kiln_latency_seconds_bucket{stage=\"infer\",le=\"0.01\"} 1",
            "kiln_latency_seconds_count{stage=\"end_to_end\"} 1",
            "kiln_model_info{model=\"yolo\",digest=\"sha256:cd\",backend=\"tensorrt\",precision=\"fp16\"} 1",
            "kiln_engine_builds_total{result=\"success\"} 1",
            "kiln_engine_build_seconds_count 1",
            "kiln_engine_cache_lookups_total{result=\"miss\"} 2",
            "kiln_rollout_state{state=\"building\"} 1",
            "kiln_rollout_state{state=\"idle\"} 0",
            "kiln_device_info{profile=\"orin-nano\",sm=\"8.7\",tensorrt=\"10.3.0\",cuda=\"12.6\"} 1",
            "kiln_gpu_load_ratio 0.5",
            "kiln_temperature_celsius{zone=\"gpu-thermal\"} 44",
            "kiln_power_watts{rail=\"VDD_IN\"} 5.9",
            "kiln_fps_per_watt{stream=\"cam0\"} 5",
        ] {
            #expect(text.contains(line + "\n"), "missing \(line)")
        }
        #expect(!text.contains("sha256:ab"), "a replaced model must disappear")
    }

    @Test func exactlyOneRolloutStateIsSetEvenForNewStates() {
        let m = KilnMetrics()
        m.setRolloutState("canary")
        m.setRolloutState("building")
        let text = m.exposition()
        #expect(text.contains("kiln_rollout_state{state=\"canary\"} 0\n"))
        #expect(text.split(separator: "\n").filter { $0.hasPrefix("kiln_rollout_state{") && $0.hasSuffix(" 1") }
                == ["kiln_rollout_state{state=\"building\"} 1"])
    }

    @Test func recordingFromManyThreadsLosesNothing() async {
        let m = KilnMetrics()
        await withTaskGroup(of: Void.self) { group in
            for t in 0..<8 {
                group.addTask {
                    for _ in 0..<10_000 {
                        m.recordFrame(stream: "s\(t % 2)", stages: [.infer: 0.004, .endToEnd: 0.01])
                    }
                }
            }
        }
        let text = m.exposition()
        #expect(text.contains("kiln_frames_total{stream=\"s0\"} 40000\n"))
        #expect(text.contains("kiln_frames_total{stream=\"s1\"} 40000\n"))
        #expect(text.contains("kiln_latency_seconds_count{stage=\"infer\"} 80000\n"))
    }

    @Test func frameRateWindowReadsTheRateAndDecaysWhenFramesStop() {
        var window = FrameRateWindow(window: 2, started: 90)
        for i in 0..<300 { window.record(at: 90 + Double(i) / 30) }
        let steady = window.rate(at: 90 + 299.0 / 30 + 0.001)
        #expect(abs(steady - 30) < 0.6, "steady \(steady)")
        #expect(window.rate(at: 105) == 0)
        var young = FrameRateWindow(window: 2, started: 0)
        for i in 0..<15 { young.record(at: Double(i) / 30) }
        #expect(abs(young.rate(at: 0.5) - 30) < 0.1, "before a full window the rate is over the time since start")
    }

    @Test func promtoolAcceptsKilnsExposition() throws {
        guard let promtool = try TestEnvironment.tool("promtool") else { return }
        let m = KilnMetrics()
        m.recordFrame(stream: "cam0", stages: [.capture: 0.002, .preprocess: 0.003, .infer: 0.01, .postprocess: 0.001, .endToEnd: 0.016])
        m.recordDrop(stream: "cam0", reason: "stale")
        m.setFPS(stream: "cam0", 30)
        m.setModel(name: "m", digest: "sha256:00", backend: "reference", precision: "fp32")
        m.recordBuild(result: "success", seconds: 3)
        m.setDeviceInfo(profile: "x86-cpu", sm: "none", tensorrt: "none", cuda: "none")
        m.recordSensors(JetsonSensorSample(gpuLoadRatio: 0.25, temperaturesCelsius: ["cpu-thermal": 45.25], railWatts: ["VDD_IN": 7.2]))
        let result = try TestEnvironment.run(promtool, ["check", "metrics"], input: Data(m.exposition().utf8))
        #expect(result.status == 0, "promtool: \(result.stdout) \(result.stderr)")
        #expect(result.stdout.isEmpty && result.stderr.isEmpty, "promtool lint findings: \(result.stdout) \(result.stderr)")
        // A fresh agent (no frames, not a Jetson) exposes families without samples: still valid.
        let fresh = try TestEnvironment.run(promtool, ["check", "metrics"], input: Data(KilnMetrics().exposition().utf8))
        #expect(fresh.status == 0 && fresh.stdout.isEmpty && fresh.stderr.isEmpty, "promtool: \(fresh.stdout) \(fresh.stderr)")
    }
}
