import Foundation
import KilnTelemetry
import Testing

/// The /sys readers on recorded trees of an Orin Nano (JetPack 6, hwmon) and a Xavier AGX (JetPack 4, iio).
@Suite struct JetsonSensorsTests {
    static let fixtures = testSourceDirectory.appendingPathComponent("Fixtures")

    @Test func readsAnOrinNanoLayout() {
        let sensors = JetsonSensors(root: Self.fixtures.appendingPathComponent("orin-nano-jp6"))
        #expect(sensors.isJetson)
        let s = sensors.sample()
        #expect(s.gpuLoadRatio == 0.532, "the ga10b node, not the VIC's devfreq node")
        #expect(s.temperaturesCelsius["gpu-thermal"] == 43.968)
        #expect(s.temperaturesCelsius["tj-thermal"] == 46)
        #expect(s.temperaturesCelsius["tboard-thermal"] == nil, "-256 °C marks an absent sensor")
        #expect(s.temperaturesCelsius.count == 9)
        #expect(s.railWatts.keys.sorted() == ["VDD_CPU_GPU_CV", "VDD_IN", "VDD_SOC"])
        #expect(abs(s.railWatts["VDD_IN"]! - 5.080 * 1.432) < 1e-9)
        #expect(s.inputWatts == s.railWatts["VDD_IN"])
    }

    @Test func readsAXavierJetPack4Layout() {
        let s = JetsonSensors(root: Self.fixtures.appendingPathComponent("xavier-agx-jp4")).sample()
        #expect(s.gpuLoadRatio == 0.871)
        #expect(s.temperaturesCelsius["GPU-therm"] == 40)
        #expect(s.temperaturesCelsius["PMIC-Die"] == 100)
        #expect(s.railWatts == ["GPU": 1.52, "CPU": 0.76, "SOC": 1.141, "CV": 0, "VDDRQ": 0.304, "SYS5V": 1.977])
        // No input rail on Xavier: the sum of the module rails.
        #expect(abs(s.inputWatts! - 5.702) < 1e-9)
    }

    @Test func aMachineWithoutJetsonNodesHasNoGPULoadOrRails() throws {
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-nosys-\(UUID().uuidString)")
        let s = JetsonSensors(root: empty).sample()
        #expect(s == JetsonSensorSample())
        #expect(s.inputWatts == nil)
        #expect(!JetsonSensors(root: empty).isJetson)
    }

    @Test func samplerPublishesGaugesAndFPSPerWatt() async {
        let metrics = KilnMetrics()
        metrics.setFPS(stream: "cam0", 29.09824)
        let sampler = JetsonSensorSampler(sensors: JetsonSensors(root: Self.fixtures.appendingPathComponent("orin-nano-jp6")), metrics: metrics)
        await sampler.sampleOnce()
        let text = metrics.exposition()
        #expect(text.contains("kiln_gpu_load_ratio 0.532\n"))
        #expect(text.contains("kiln_temperature_celsius{zone=\"cpu-thermal\"} 45.25\n"))
        #expect(text.contains("kiln_power_watts{rail=\"VDD_IN\"} 7.27456"))
        let line = text.split(separator: "\n").first { $0.hasPrefix("kiln_fps_per_watt{stream=\"cam0\"}") }
        let value = line.flatMap { Double($0.split(separator: " ").last!) }
        #expect(value != nil && abs(value! - 4.0) < 1e-6)
    }
}
