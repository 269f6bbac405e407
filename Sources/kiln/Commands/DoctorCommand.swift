import Foundation
import KilnCore

/// `kiln doctor [--json] [--profile NAME]`: what Kiln sees on this device and what it will do.
struct DoctorCommand: Command {
    static let name = "doctor"
    static let summary = "Show the device, its profile, the workspace arithmetic, backends and the cache"
    static let help = """
        Usage: kiln doctor [--json] [flags]
               kiln doctor --device-nodes

        Prints the device (device-tree model, L4T/JetPack release, memory), the device profile chosen
        and why, the builder workspace arithmetic
        (min(profile cap, MemAvailable − reserve), never below the floor), each backend and why it is
        unavailable, the engine cache's location and usage, the most recent engine builds, and
        the GPU, media, DLA, camera and render device nodes present, with whether the service
        (a DynamicUser in groups video and render) may open each.

        Flags:
          --json               Print one JSON object
          --device-nodes       Print only the paths of those device nodes, one per line (what
                               systemd/install.sh writes into the unit's DeviceAllow= drop-in)
        \(DeviceContext.flagHelp)

        Examples:
          kiln doctor
          kiln doctor --profile orin-nano-4gb
          kiln doctor --json | jq .workspace
        """

    /// Everything doctor reports, as `--json` prints it.
    struct Report: Encodable {
        var device: DeviceFacts
        var jetPack: String?
        var profile: DeviceProfile
        var profileReason: MatchReason
        var workspace: WorkspacePlan
        var workspaceExplanation: String
        var backends: [BackendProbe.Status]
        var cache: EngineCache.Usage
        var recentBuilds: [BuildRecord]
        var deviceNodes: [DeviceNode]
    }

    static func run(_ arguments: inout Arguments) async throws -> ExitCode {
        let json = arguments.flag("--json")
        if arguments.flag("--device-nodes") {
            try arguments.finish()
            for node in DeviceNode.scan() { print(node.path) }
            return .ok
        }
        let context = try DeviceContext.resolve(&arguments)
        try arguments.finish()
        let d = context.detection
        let plan = d.workspacePlan
        let report = Report(
            device: d.facts, jetPack: d.facts.tegraRelease?.jetPack, profile: d.profile, profileReason: d.reason,
            workspace: plan, workspaceExplanation: plan.description, backends: BackendProbe.statuses(),
            cache: context.cache.usage(), recentBuilds: Array(context.cache.recentBuilds().suffix(10)),
            deviceNodes: DeviceNode.scan())
        if json {
            CacheCommand.printJSON(report)
        } else {
            print(text(report))
        }
        return .ok
    }

    /// The human-readable report.
    static func text(_ r: Report) -> String {
        func mib(_ b: Int?) -> String { b.map { "\($0 >> 20) MiB" } ?? "unknown" }
        let f = r.device, p = r.profile
        var out: [String] = []
        out.append("Device")
        out.append("  model:      \(f.deviceTreeModel ?? "none (no /proc/device-tree/model)")")
        if let t = f.tegraRelease {
            out.append("  L4T:        \(t.version)" + (r.jetPack.map { " (JetPack \($0))" } ?? " (JetPack unknown)"))
        } else {
            out.append("  L4T:        none (no /etc/nv_tegra_release: not a Jetson)")
        }
        out.append("  memory:     MemTotal \(mib(f.memTotalBytes)), MemAvailable \(mib(f.memAvailableBytes))")
        if let g = f.gpu {
            out.append("  GPU:        \(g.name), SM \(g.computeCapability), \(mib(g.totalMemoryBytes)), \(g.integrated ? "integrated" : "discrete")")
        } else {
            out.append("  GPU:        no CUDA device query")
        }
        out.append("Profile")
        out.append("  name:       \(p.name) (\(p.displayName)), chosen by \(r.profileReason.rawValue)")
        out.append("  GPU:        SM \(p.sm ?? f.gpu?.computeCapability.description ?? "-"), \(p.unifiedMemory ? "unified" : "separate") memory, \(p.dlaCores) DLA cores")
        out.append("  builds:     \(p.defaultPrecision.rawValue), optimization level \(p.optimizationLevel), tactics \(tactics(p.tacticSources)), \(p.buildWhileServing ? "may" : "never") build while serving")
        out.append("Workspace")
        out.append("  \(r.workspaceExplanation)")
        out.append("Backends")
        let width = r.backends.map(\.name.count).max() ?? 0
        for b in r.backends {
            out.append("  \(b.name.padding(toLength: width, withPad: " ", startingAt: 0))  \(b.available ? "available" : "unavailable"): \(b.detail)")
        }
        out.append("Cache")
        out.append("  directory:  \(r.cache.directory)")
        out.append("  usage:      \(r.cache.entries) entries, \(CacheCommand.bytes(r.cache.bytes)) of \(CacheCommand.bytes(r.cache.budgetBytes)) budget")
        out.append("Recent builds")
        if r.recentBuilds.isEmpty { out.append("  none recorded") }
        for b in r.recentBuilds.reversed() {
            let tried = b.workspaceTriedBytes.map { "\($0 >> 20)" }.joined(separator: "→")
            out.append("  \(b.date.formatted(.iso8601))  \(b.result.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0))  \(b.backend)  \(b.key.prefix(12))  workspace \(tried.isEmpty ? "-" : tried + " MiB")  \(String(format: "%.1fs", b.seconds))" + (b.error.map { "  \($0)" } ?? ""))
        }
        out.append("Device nodes (the service runs as a DynamicUser in groups \(DeviceNode.serviceGroups.sorted().joined(separator: ", ")))")
        if r.deviceNodes.isEmpty { out.append("  none: no GPU, media, DLA, camera or render nodes under /dev") }
        for n in r.deviceNodes {
            let access = n.serviceCanOpen ? "service can open"
                : "service CANNOT open: group \(n.group), mode \(String(n.mode, radix: 8)); add the node's group to SupplementaryGroups= (systemctl edit kiln) or fix its udev rule"
            out.append("  \(n.path)  \(n.purpose.rawValue)  \(access)")
        }
        return out.joined(separator: "\n")
    }

    /// `cublas+cudnn`-style tactic list.
    static func tactics(_ t: TacticSources?) -> String {
        guard let t else { return "default" }
        let on = [("cublas", t.cublas), ("cublasLt", t.cublasLt), ("cudnn", t.cudnn), ("edge-mask", t.edgeMaskConvolutions)]
            .filter(\.1).map(\.0)
        return on.isEmpty ? "none" : on.joined(separator: "+")
    }
}
