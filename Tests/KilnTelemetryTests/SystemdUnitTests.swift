import Foundation
import KilnTelemetry
import KilnTestSupport
import Testing

/// `systemd/kiln.service` checked by systemd's own tools (Debian `systemd`).
@Suite struct SystemdUnitTests {
    static let unit = testSourceDirectory.appendingPathComponent("../../systemd/kiln.service").standardizedFileURL

    /// The unit as install.sh installs it, with ExecStart pointing at a binary that exists here.
    func installedCopy(_ dir: URL) throws -> URL {
        let binary = TestEnvironment.kilnExecutable
        let target = FileManager.default.isExecutableFile(atPath: binary) ? binary : "/bin/true"
        let text = try String(contentsOf: Self.unit, encoding: .utf8).replacingOccurrences(of: "/usr/local/bin/kiln", with: target)
        let copy = dir.appendingPathComponent("kiln.service")
        try text.write(to: copy, atomically: true, encoding: .utf8)
        return copy
    }

    @Test func systemdAnalyzeVerifyAcceptsTheUnit() throws {
        guard let analyze = try TestEnvironment.tool("systemd-analyze") else { return }
        let dir = try TestEnvironment.temporaryDirectory("kiln-unit")
        defer { try? FileManager.default.removeItem(at: dir) }
        let copy = try installedCopy(dir)
        let r = try TestEnvironment.run(analyze, ["verify", copy.path])
        #expect(r.status == 0, "systemd-analyze verify: \(r.stdout)\(r.stderr)")
        #expect(!r.stderr.contains("kiln.service:"), "warnings about the unit: \(r.stderr)")
    }

    @Test func securityExposureIsAtMostTwoPointFive() throws {
        guard let analyze = try TestEnvironment.tool("systemd-analyze") else { return }
        let dir = try TestEnvironment.temporaryDirectory("kiln-unit")
        defer { try? FileManager.default.removeItem(at: dir) }
        let copy = try installedCopy(dir)
        let r = try TestEnvironment.run(analyze, ["security", "--offline=yes", copy.path])
        let line = try #require(r.stdout.split(separator: "\n").first { $0.contains("Overall exposure level") },
                                "no score in: \(r.stdout)\(r.stderr)")
        let score = try #require(line.split(separator: ":").last?.split(separator: " ").first.flatMap { Double($0) })
        #expect(score <= 2.5, "\(line)")
    }

    @Test func unitHasTheServiceContract() throws {
        let text = try String(contentsOf: Self.unit, encoding: .utf8)
        for line in ["Type=notify", "WatchdogSec=", "TimeoutAbortSec=", "Restart=on-failure", "RestartPreventExitStatus=2 3",
                     "SyslogLevel=err", "StateDirectory=kiln", "CacheDirectory=kiln", "ConfigurationDirectory=kiln",
                     "ExecReload=/bin/kill -HUP $MAINPID", "BindPaths=-/tmp/argus_socket", "DeviceAllow=char-nvidia-frontend rw",
                     "DeviceAllow=char-video4linux rw", "DeviceAllow=char-drm rw"] {
            #expect(text.contains(line), "missing \(line)")
        }
        // Jetson nodes are named in install.sh's drop-in, only where present: a path here would
        // log "Couldn't stat device" on every start on boards and releases without it.
        #expect(!text.split(separator: "\n").contains { $0.hasPrefix("DeviceAllow=/") }, "DeviceAllow= paths belong in 50-devices.conf")
    }
}
