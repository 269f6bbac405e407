import Glibc

extension DeviceDetector {
    /// The path of `relative` (an absolute system path) under `root`.
    func path(_ relative: String) -> String {
        root == "/" ? relative : (root.hasSuffix("/") ? String(root.dropLast()) : root) + relative
    }

    /// `/proc/device-tree/model`, without the trailing NUL the kernel writes; `nil` if absent or empty.
    func readDeviceTreeModel() -> String? {
        guard let bytes = Self.readSmallFile(path("/proc/device-tree/model")) else { return nil }
        let text = String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
        let trimmed = text.split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
        return trimmed.isEmpty ? nil : trimmed
    }

    /// `/etc/nv_tegra_release`, parsed; `nil` off Jetson.
    func readTegraRelease() -> TegraRelease? {
        guard let bytes = Self.readSmallFile(path("/etc/nv_tegra_release")) else { return nil }
        return TegraRelease(parsing: String(decoding: bytes, as: UTF8.self))
    }

    /// `/proc/meminfo`, parsed; `nil` if unreadable.
    func readMemInfo() -> MemInfo? {
        guard let bytes = Self.readSmallFile(path("/proc/meminfo")) else { return nil }
        return MemInfo(parsing: String(decoding: bytes, as: UTF8.self))
    }

    /// Reads a small file to its end with read(2): procfs and sysfs report a size of 0, so sizes
    /// from stat cannot be trusted. At most 1 MiB is read.
    static func readSmallFile(_ path: String) -> [UInt8]? {
        guard let fd = try? FileDescriptor.open(path, .readOnly) else { return nil }
        defer { fd.closeIgnoringErrors() }
        return try? fd.readToEnd(path: path, limit: 1 << 20)
    }
}
