import Foundation
import Glibc
import KilnCore
import KilnTestSupport
import Testing

/// `DeviceNode.scan`: the nodes `kiln doctor --device-nodes` lists for the unit's DeviceAllow= drop-in.
@Suite struct DeviceNodeTests {
    @Test func jetsonNodesOfEachReleaseAreClassifiedAndOthersIgnored() {
        #expect(DeviceNode.purpose(of: "nvhost-ctrl-gpu") == .gpu)  // JetPack 4/5
        #expect(DeviceNode.purpose(of: "nvgpu/igpu0/power") == .gpu)  // JetPack 5/6
        #expect(DeviceNode.purpose(of: "host1x-fence") == .gpu)  // JetPack 6
        #expect(DeviceNode.purpose(of: "nvmap") == .gpu)
        #expect(DeviceNode.purpose(of: "nvhost-nvdla0") == .dla)
        #expect(DeviceNode.purpose(of: "nvhost-msenc") == .media)
        #expect(DeviceNode.purpose(of: "nvhost-vic") == .media)
        #expect(DeviceNode.purpose(of: "v4l2-nvdec") == .media)
        #expect(DeviceNode.purpose(of: "nvhost-vi") == .camera)
        #expect(DeviceNode.purpose(of: "video0") == .camera)
        #expect(DeviceNode.purpose(of: "dri/renderD128") == .render)
        #expect(DeviceNode.purpose(of: "nvidia-uvm") == .gpu)
        #expect(DeviceNode.purpose(of: "sda") == nil)
        #expect(DeviceNode.purpose(of: "ttyTHS0") == nil)
    }

    /// Real character devices made with mknod (root only) in a scratch /dev.
    @Test func scanListsOnlyPresentCharacterDevicesAndWhetherTheServiceMayOpenThem() throws {
        let dir = try TestEnvironment.temporaryDirectory("kiln-dev")
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("nvgpu/igpu0"), withIntermediateDirectories: true)
        func node(_ name: String, mode: mode_t, group: gid_t) -> Bool {
            let path = dir.appendingPathComponent(name).path
            guard mknod(path, S_IFCHR | mode, dev_t((1 << 8) | 3)) == 0 else { return false }
            chmod(path, mode)
            return chown(path, 0, group) == 0
        }
        guard let video = getgrnam("video")?.pointee.gr_gid,
              node("nvhost-ctrl-gpu", mode: 0o660, group: video) else {
            if TestEnvironment.isCI { Issue.record("mknod needs root and a group 'video' (CI runs as root on Debian)") }
            return
        }
        #expect(node("nvgpu/igpu0/power", mode: 0o660, group: video))
        #expect(node("nvmap", mode: 0o660, group: 0))  // root's group only: the service cannot open it
        #expect(node("video0", mode: 0o666, group: 0))
        #expect(node("sda", mode: 0o660, group: 0))  // not Kiln's
        FileManager.default.createFile(atPath: dir.appendingPathComponent("nvhost-gpu").path, contents: Data())  // not a device
        let nodes = DeviceNode.scan(root: dir.path)
        let p = dir.path
        #expect(nodes.map(\.path) == ["\(p)/nvgpu/igpu0/power", "\(p)/nvhost-ctrl-gpu", "\(p)/nvmap", "\(p)/video0"])
        #expect(nodes.map(\.serviceCanOpen) == [true, true, false, true])
        #expect(nodes.first { $0.path.hasSuffix("nvmap") }?.mode == 0o660)
        #expect(nodes.first { $0.path.hasSuffix("video0") }?.purpose == .camera)
    }
}
