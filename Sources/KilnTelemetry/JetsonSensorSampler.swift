import Dispatch
import Foundation
import KilnCore

/// A service that samples Jetson sensors at an interval into `KilnMetrics` (GPU load,
/// temperatures, rail power, FPS per watt).
///
/// Reads happen on a dedicated queue; `run()` returns when the task is cancelled.
public struct JetsonSensorSampler: Sendable {
    /// The reader.
    public let sensors: JetsonSensors
    /// Where samples go.
    public let metrics: KilnMetrics
    /// Seconds between samples.
    public let interval: Double
    private let queue = DispatchQueue(label: "kiln.jetson-sensors")

    /// Creates a sampler.
    public init(sensors: JetsonSensors = JetsonSensors(), metrics: KilnMetrics, interval: Double = 1) {
        self.sensors = sensors
        self.metrics = metrics
        self.interval = interval
    }

    /// Takes one sample now and publishes it.
    @discardableResult
    public func sampleOnce() async -> JetsonSensorSample {
        let sensors = self.sensors
        let sample = await withCheckedContinuation { (c: CheckedContinuation<JetsonSensorSample, Never>) in
            queue.async { c.resume(returning: sensors.sample()) }
        }
        metrics.recordSensors(sample)
        return sample
    }

    /// Samples until cancelled.
    public func run() async throws {
        while !Task.isCancelled {
            await sampleOnce()
            do { try await Task.sleep(for: .seconds(interval)) } catch { return }
        }
    }
}
