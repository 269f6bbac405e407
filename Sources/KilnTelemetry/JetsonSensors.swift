import Foundation

/// One reading of a Jetson's sensors.
public struct JetsonSensorSample: Sendable, Equatable {
    /// GPU load from 0 to 1, from the GPU's devfreq node; nil when no Jetson GPU node exists.
    public var gpuLoadRatio: Double?
    /// Temperature per thermal zone type (`cpu-thermal`, `gpu-thermal`…), in °C.
    public var temperaturesCelsius: [String: Double]
    /// Power per INA3221 rail (`VDD_IN`, `VDD_CPU_GPU_CV`, `GPU`…), in watts.
    public var railWatts: [String: Double]

    /// Creates a sample.
    public init(gpuLoadRatio: Double? = nil, temperaturesCelsius: [String: Double] = [:], railWatts: [String: Double] = [:]) {
        self.gpuLoadRatio = gpuLoadRatio
        self.temperaturesCelsius = temperaturesCelsius
        self.railWatts = railWatts
    }

    /// Rails that measure the whole board's input, by Jetson generation.
    public static let inputRails = ["VDD_IN", "POM_5V_IN", "VIN_SYS_5V0", "VDD_IN_TOTAL"]

    /// The board's input power: its input rail where the board has one (Orin `VDD_IN`, Nano/TX2
    /// `POM_5V_IN`), else the sum of all rails (Xavier's INA3221s measure only module rails).
    public var inputWatts: Double? {
        if railWatts.isEmpty { return nil }
        for name in Self.inputRails { if let w = railWatts[name] { return w } }
        return railWatts.values.reduce(0, +)
    }
}

/// Reads a Jetson's GPU load, thermal zones and INA3221 power rails from sysfs.
///
/// Every path is under `root` (default `/`), so recorded fixture trees can stand in for a device.
/// GPU load: the devfreq node whose `device/of_node/name` is gv11b/gp10b/ga10b/gb10b, file
/// `device/load` (per-mille). Temperatures: `sys/devices/virtual/thermal/thermal_zone*/{type,temp}`
/// (m°C). Power: INA3221 hwmon devices (`name` = ina3221; `inN_label`, `inN_input` mV,
/// `currN_input` mA; JetPack 5+) and JetPack 4's iio devices (`name` = ina3221x; `rail_name_N`,
/// `in_powerN_input` mW).
public struct JetsonSensors: Sendable {
    /// The sysfs root the readers prefix every path with.
    public let root: URL
    /// The devfreq `of_node` names of Jetson integrated GPUs (Nano/TX1 gm20b too).
    public static let gpuNodeNames: Set<String> = ["gv11b", "gp10b", "ga10b", "gb10b", "gm20b"]

    /// Creates a reader of the tree at `root` (`/` on a device).
    public init(root: URL = URL(fileURLWithPath: "/")) { self.root = root }

    /// True when this looks like a Jetson: a devfreq node of a Jetson GPU exists.
    public var isJetson: Bool { gpuLoadFile() != nil }

    /// Reads every sensor once; missing sensors are left out, unreadable values skipped.
    public func sample() -> JetsonSensorSample {
        JetsonSensorSample(gpuLoadRatio: gpuLoad(), temperaturesCelsius: temperatures(), railWatts: railPower())
    }

    /// GPU load from 0 to 1.
    public func gpuLoad() -> Double? {
        guard let file = gpuLoadFile(), let perMille = readNumber(file) else { return nil }
        return perMille / 1000
    }

    func gpuLoadFile() -> URL? {
        let devfreq = root.appendingPathComponent("sys/class/devfreq")
        for entry in list(devfreq) {
            let node = devfreq.appendingPathComponent(entry)
            guard let name = readText(node.appendingPathComponent("device/of_node/name")),
                Self.gpuNodeNames.contains(name)
            else { continue }
            let load = node.appendingPathComponent("device/load")
            if FileManager.default.fileExists(atPath: load.path) { return load }
        }
        return nil
    }

    /// Temperatures per thermal zone type in °C; zones reading the -256 °C "absent" marker are skipped.
    public func temperatures() -> [String: Double] {
        let base = root.appendingPathComponent("sys/devices/virtual/thermal")
        var out: [String: Double] = [:]
        for entry in list(base) where entry.hasPrefix("thermal_zone") {
            let zone = base.appendingPathComponent(entry)
            guard let type = readText(zone.appendingPathComponent("type")),
                let milli = readNumber(zone.appendingPathComponent("temp")), milli > -200_000
            else { continue }
            out[type] = milli / 1000
        }
        return out
    }

    /// Watts per rail from every INA3221 (hwmon and iio).
    public func railPower() -> [String: Double] {
        var out: [String: Double] = [:]
        let hwmon = root.appendingPathComponent("sys/class/hwmon")
        for entry in list(hwmon) {
            let dev = hwmon.appendingPathComponent(entry)
            guard readText(dev.appendingPathComponent("name")) == "ina3221" else { continue }
            for channel in 1...8 {
                guard let label = readText(dev.appendingPathComponent("in\(channel)_label")), !label.isEmpty,
                    let mV = readNumber(dev.appendingPathComponent("in\(channel)_input")),
                    let mA = readNumber(dev.appendingPathComponent("curr\(channel)_input"))
                else { continue }
                // The Orin's "sum of shunt" pseudo-channel has no voltage of its own.
                if label.hasPrefix("sum of") { continue }
                out[label] = mV * mA / 1_000_000
            }
        }
        let iio = root.appendingPathComponent("sys/bus/iio/devices")
        for entry in list(iio) where entry.hasPrefix("iio:device") {
            let dev = iio.appendingPathComponent(entry)
            guard readText(dev.appendingPathComponent("name"))?.hasPrefix("ina3221") == true else { continue }
            for channel in 0..<8 {
                guard let rail = readText(dev.appendingPathComponent("rail_name_\(channel)")), !rail.isEmpty else { continue }
                if let mW = readNumber(dev.appendingPathComponent("in_power\(channel)_input")) {
                    out[rail] = mW / 1000
                } else if let mV = readNumber(dev.appendingPathComponent("in_voltage\(channel)_input")),
                    let mA = readNumber(dev.appendingPathComponent("in_current\(channel)_input")) {
                    out[rail] = mV * mA / 1_000_000
                }
            }
        }
        return out
    }

    private func list(_ dir: URL) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).sorted()
    }

    /// A sysfs text value without trailing newlines or the NULs device-tree strings carry.
    private func readText(_ url: URL) -> String? {
        guard let data = FileManager.default.contents(atPath: url.path) else { return nil }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: CharacterSet.whitespacesAndNewlines.union(CharacterSet(charactersIn: "\0")))
    }

    private func readNumber(_ url: URL) -> Double? { readText(url).flatMap { Double($0) } }
}
