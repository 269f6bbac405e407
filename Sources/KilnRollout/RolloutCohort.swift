import Foundation
import KilnCore

/// Staged rollouts: which devices take part in a rollout of a given percentage.
///
/// A device's bucket is a stable hash of (device id, rollout id) mapped onto 0‥100: the first
/// 8 bytes of sha256("DEVICE\nROLLOUT") as a fraction of 2⁶⁴. A device takes part iff its
/// bucket is below the percentage, so raising the percentage only adds devices, and each
/// rollout id draws a different, independent cohort.
public enum RolloutCohort {
    /// The device's bucket in 0..<100 for `rolloutID`.
    public static func bucket(deviceID: String, rolloutID: String) -> Double {
        var h = SHA256()
        h.update(Array("\(deviceID)\n\(rolloutID)".utf8))
        let bytes = h.finalize()
        let value = bytes.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        return Double(value) / 18_446_744_073_709_551_616.0 * 100
    }

    /// True if the device takes part; a nil percentage means the whole fleet.
    public static func includes(deviceID: String, rolloutID: String, percentage: Double?) -> Bool {
        guard let percentage else { return true }
        if percentage >= 100 { return true }
        return bucket(deviceID: deviceID, rolloutID: rolloutID) < percentage
    }

    /// This device's id: `KILN_DEVICE_ID`, else `/etc/machine-id`, else the host name.
    public static func deviceID(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let id = environment["KILN_DEVICE_ID"], !id.isEmpty { return id }
        if let data = FileManager.default.contents(atPath: "/etc/machine-id") {
            let id = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            if !id.isEmpty { return id }
        }
        return ProcessInfo.processInfo.hostName
    }
}
