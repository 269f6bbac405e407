import Foundation

/// A device node Kiln's service may open on this board: the GPU (Jetson nvhost/nvgpu/nvmap/host1x
/// or a desktop driver's /dev/nvidia*), the media engines (NVDEC, NVENC, VIC, NVJPG), the DLA,
/// cameras (V4L2, the CSI capture path) and DRM render nodes.
///
/// `kiln doctor --device-nodes` lists the ones present, and `systemd/install.sh` turns that list
/// into the unit's `DeviceAllow=` drop-in: only nodes that exist are named, so systemd never logs
/// "Couldn't stat device" for the nodes of another JetPack release.
public struct DeviceNode: Codable, Sendable, Equatable {
    /// What a node is for.
    public enum Purpose: String, Codable, Sendable {
        /// CUDA: the GPU, its address spaces, channels and the memory manager.
        case gpu
        /// Hardware video decode/encode, image compositor (VIC) and JPEG engines.
        case media
        /// The deep learning accelerator.
        case dla
        /// V4L2 and CSI capture (ISP, VI, NVCSI).
        case camera
        /// DRM render and control nodes.
        case render
    }

    /// The node's path, such as `/dev/nvhost-ctrl-gpu`.
    public var path: String
    /// What Kiln uses it for.
    public var purpose: Purpose
    /// The node's group, by name where the group database has it.
    public var group: String
    /// The node's permission bits (for example 0o660).
    public var mode: UInt32
    /// Whether the service (a DynamicUser, so never the owner, in groups `serviceGroups`) may
    /// open it read-write by its permission bits.
    public var serviceCanOpen: Bool

    /// The supplementary groups `systemd/kiln.service` runs in.
    public static let serviceGroups: Set<String> = ["video", "render"]

    /// What a node under /dev (path relative to /dev) is for, or `nil` when Kiln has no use for it.
    public static func purpose(of relative: String) -> Purpose? {
        let name = relative
        if name == "nvmap" || name == "host1x-fence" || name == "nvsciipc" || name.hasPrefix("nvgpu/") { return .gpu }
        if name.hasPrefix("nvidia") { return .gpu }  // desktop: nvidia0…, nvidiactl, nvidia-uvm, nvidia-caps/…
        if name.hasPrefix("v4l2-nv") { return .media }  // JetPack 6: v4l2-nvdec, v4l2-nvenc
        if name.hasPrefix("video") || name.hasPrefix("media") { return .camera }
        if name.hasPrefix("dri/renderD") { return .render }
        if name.hasPrefix("nvhost-") {
            if name.contains("nvdla") { return .dla }
            for engine in ["nvdec", "msenc", "nvenc", "vic", "nvjpg", "tsec"] where name.contains(engine) { return .media }
            for engine in ["isp", "-vi", "nvcsi"] where name.contains(engine) { return .camera }
            return .gpu  // nvhost-ctrl, nvhost-ctrl-gpu, nvhost-gpu, nvhost-as-gpu, …
        }
        return nil
    }

    /// The character devices under `root` (default `/dev`, searched two levels deep) that Kiln
    /// may use, sorted by path. Symbolic links are followed; what is not a character device is
    /// left out.
    public static func scan(root: String = "/dev") -> [DeviceNode] {
        let fm = FileManager.default
        var relatives: [String] = []
        for name in (try? fm.contentsOfDirectory(atPath: root)) ?? [] {
            let path = root + "/" + name
            var isDirectory: ObjCBool = false
            guard fm.fileExists(atPath: path, isDirectory: &isDirectory) else { continue }
            if isDirectory.boolValue, ["nvgpu", "dri", "nvidia-caps"].contains(name) {
                // /dev/nvgpu/igpu0/ctrl…: two levels; /dev/dri/renderD128, /dev/nvidia-caps/nvidia-cap1: one.
                for sub in (try? fm.subpathsOfDirectory(atPath: path)) ?? [] { relatives.append(name + "/" + sub) }
            } else {
                relatives.append(name)
            }
        }
        var nodes: [DeviceNode] = []
        for relative in relatives {
            guard let purpose = purpose(of: relative) else { continue }
            let path = root + "/" + relative
            var st = stat()
            guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFCHR else { continue }
            let group = groupName(st.st_gid)
            let mode = UInt32(st.st_mode) & 0o7777
            let open = (mode & 0o006) == 0o006 || (serviceGroups.contains(group) && (mode & 0o060) == 0o060)
            nodes.append(DeviceNode(path: path, purpose: purpose, group: group, mode: mode, serviceCanOpen: open))
        }
        return nodes.sorted { $0.path < $1.path }
    }

    /// The name of group `gid`, or the number when the group database has no entry.
    static func groupName(_ gid: gid_t) -> String {
        guard let entry = getgrgid(gid), let name = entry.pointee.gr_name else { return String(gid) }
        return String(cString: name)
    }
}
