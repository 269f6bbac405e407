import Foundation
import Glibc
import KilnAgent
import KilnONNX
import KilnTestSupport
import Testing

/// Kiln as a service under a real systemd (Debian's, booted in private namespaces by
/// `Tests/systemd/harness.sh`): `systemd/install.sh` installs the debug-built kiln and the unit,
/// and systemd itself starts, reloads, watches, aborts and stops it.
@Suite(.serialized) struct SystemdServiceTests {
    /// A booted systemd, or `nil` when this machine cannot boot one outside CI.
    static func boot() throws -> SystemdHarness? {
        guard try TestEnvironment.tool("nsenter") != nil, try TestEnvironment.tool("/lib/systemd/systemd") != nil,
              try TestEnvironment.tool(TestEnvironment.kilnExecutable) != nil else { return nil }
        guard getuid() == 0 else {
            if TestEnvironment.isCI { throw SystemdHarness.HarnessError(message: "SystemdServiceTests boot systemd in namespaces and must run as root (CI runs as root)") }
            FileHandle.standardError.write(Data("skipped: SystemdServiceTests need root\n".utf8))
            return nil
        }
        return try SystemdHarness.boot()
    }

    /// The toolchain's static backtracer, which install.sh installs beside kiln.
    static func backtracer() throws -> String? {
        guard let swift = try TestEnvironment.tool("swift") else { return nil }
        let toolchain = URL(fileURLWithPath: swift).resolvingSymlinksInPath().deletingLastPathComponent()
        return try TestEnvironment.tool(toolchain.appendingPathComponent("../libexec/swift/linux/swift-backtrace-static").standardizedFileURL.path)
    }

    /// Runs install.sh inside with the test's kiln and backtracer.
    static func install(_ h: SystemdHarness, _ extra: [String] = []) throws -> SystemdHarness.Result {
        guard let backtracer = try backtracer() else { throw SystemdHarness.HarnessError(message: "the toolchain has no libexec/swift/linux/swift-backtrace-static") }
        return try h.exec(["bash", SystemdHarness.repository.appendingPathComponent("systemd/install.sh").path,
                           "--binary", TestEnvironment.kilnExecutable, "--backtracer", backtracer] + extra, timeout: 120)
    }

    /// Writes the two demo models (distinct digests) and a bad one into /etc/kiln, and a
    /// configuration serving `model` on a synthetic source with /metrics on loopback.
    static func configure(_ h: SystemdHarness, model: String = "a.onnx") throws {
        var b = DemoModel.model()
        b.producerVersion = "demo-b"
        try Data(DemoModel.bytes()).write(to: h.dir.appendingPathComponent("a.onnx"))
        try Data(ONNXWriter.serialize(b)).write(to: h.dir.appendingPathComponent("b.onnx"))
        try Data("this is not an ONNX model\n".utf8).write(to: h.dir.appendingPathComponent("bad.onnx"))
        try h.shell("mkdir -p /etc/kiln && cp \(SystemdHarness.inside)/a.onnx \(SystemdHarness.inside)/b.onnx \(SystemdHarness.inside)/bad.onnx /etc/kiln/")
        try setModel(h, model)
    }

    /// `configure`, then install.sh; the test stops here unless the install succeeded.
    static func configureAndInstall(_ h: SystemdHarness) throws {
        try configure(h)
        let r = try install(h)
        try #require(r.status == 0, "install.sh: \(r.output)")
    }

    /// Rewrites /etc/kiln/kiln.conf to serve /etc/kiln/`model`.
    static func setModel(_ h: SystemdHarness, _ model: String) throws {
        let conf = "model = /etc/kiln/\(model)\nsource = synthetic:320x240@30\nmetrics-addr = 127.0.0.1:9464\nreport-interval = 5s\n"
        try Data(conf.utf8).write(to: h.dir.appendingPathComponent("kiln.conf"))
        try h.shell("cp \(SystemdHarness.inside)/kiln.conf /etc/kiln/kiln.conf.new && mv /etc/kiln/kiln.conf.new /etc/kiln/kiln.conf")
    }

    /// Waits until `condition` holds, polling every 0.2 s; false after `seconds`.
    static func wait(_ seconds: Double, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        repeat {
            if try condition() { return true }
            usleep(200_000)
        } while Date() < deadline
        return try condition()
    }

    @Test func defaultConfigurationFailsOnceWithTheReasonAtErrAndNoRestartLoop() throws {
        guard let h = try Self.boot() else { return }
        defer { h.stop() }
        let r = try Self.install(h)
        #expect(r.status == 0, "install.sh: \(r.output)")
        #expect(r.output.contains("not started") && r.output.contains("model ="), "install.sh must say what to set: \(r.output)")
        #expect(try h.property("UnitFileState") == "disabled", "a service without a model must not be enabled")
        #expect(try h.property("ActiveState") == "inactive")
        // Started anyway, the unit fails with exit 2 and stays failed: no restart after RestartSec=5s.
        _ = try h.exec(["systemctl", "start", "kiln"])
        #expect(try Self.wait(20) { try h.property("ActiveState") == "failed" }, "state \(h.show("ActiveState"))")
        usleep(6_500_000)
        #expect(try h.property("ActiveState") == "failed")
        #expect(try h.property("NRestarts") == "0")
        #expect(try h.property("ExecMainStatus") == "2")
        let err = try h.exec(["journalctl", "-u", "kiln", "-p", "err", "--no-pager", "-o", "cat"]).output
        #expect(err.contains("missing MODEL"), "journalctl -u kiln -p err: \(err)")
    }

    @Test func installedWithAModelItServesReloadsStopsAndUninstalls() throws {
        guard let h = try Self.boot() else { return }
        defer { h.stop() }
        try Self.configureAndInstall(h)
        #expect(try h.property("UnitFileState") == "enabled")
        // What install.sh put where: Documentation= names the README it installed; the drop-ins.
        let files = try h.shell("""
            test -x /usr/local/bin/kiln && test -x /usr/local/libexec/kiln/swift-backtrace-static && \
            test -f /usr/local/share/doc/kiln/README.md && grep -q '^Documentation=file:/usr/local/share/doc/kiln/README.md' /etc/systemd/system/kiln.service && \
            grep -q '^\\[Service\\]' /etc/systemd/system/kiln.service.d/50-devices.conf && \
            grep -q 'swift-backtrace=/usr/local/libexec/kiln/swift-backtrace-static' /etc/systemd/system/kiln.service.d/60-backtrace.conf && echo files-ok
            """)
        #expect(files.output.contains("files-ok"), "installed files: \(files.output)")
        #expect(try Self.wait(60) { try h.property("ActiveState") == "active" }, "not active: \(h.log())")

        // Upgrade in place while serving: state and configuration are kept, the service restarts
        // on the new binary (its engine now a cache hit) and is active within a second of exec.
        try h.shell("echo keep > /var/lib/kiln/upgrade-marker")
        let confBefore = try h.shell("cat /etc/kiln/kiln.conf").output
        let pidBefore = try h.property("MainPID")
        let since = try h.now()
        let upgrade = try Self.install(h)
        #expect(upgrade.status == 0, "install.sh upgrade: \(upgrade.output)")
        #expect(try h.shell("cat /var/lib/kiln/upgrade-marker").output.contains("keep"), "state lost in the upgrade")
        #expect(try h.shell("cat /etc/kiln/kiln.conf").output == confBefore, "configuration changed by the upgrade")
        #expect(try Self.wait(30) { try h.property("ActiveState") == "active" && h.property("MainPID") != pidBefore })
        let exec = Int(try h.property("ExecMainStartTimestampMonotonic")) ?? 0
        let active = Int(try h.property("ActiveEnterTimestampMonotonic")) ?? 0
        #expect(exec > 0 && active > exec && active - exec < 1_000_000, "active \(Double(active - exec) / 1e6) s after exec")
        #expect(try Self.wait(15) { try h.property("StatusText").range(of: #"serving [0-9.]+ fps"#, options: .regularExpression) != nil },
                "STATUS: \(h.show("StatusText"))")
        let health = try h.exec(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:9464/healthz"])
        #expect(health.output == "200", "/healthz: \(health.output)")
        // At most two warnings (or worse) per start, from systemd about the unit and from kiln.
        let warnings = try h.journal(since: since, priority: "warning")
        let warningLines = warnings.split(separator: "\n").filter { !$0.hasPrefix("-- No entries") }
        #expect(warningLines.count <= 2, "warnings on one start:\n\(warnings)")

        // LimitNICE=-4 lets libdispatch renice its workers; where systemd may raise the limit
        // (its PID 1 has CAP_SYS_RESOURCE: not in every container) no warning about it remains.
        let limits = try h.shell("cat /proc/$(systemctl show kiln -p MainPID --value)/limits").output
        if limits.contains("Max nice priority         24") {
            #expect(!(try h.journal(since: since)).contains("Failed to set thread priority"))
        }

        // Reload with a changed model: swapped without a restart.
        let pid = try h.property("MainPID")
        try Self.setModel(h, "b.onnx")
        #expect(try h.exec(["systemctl", "reload", "kiln"]).status == 0)
        #expect(try Self.wait(30) { try h.journal().contains("now serving /etc/kiln/b.onnx") }, "\(h.log())")
        // Reload with a bad model: refused at err, the previous model keeps serving.
        try Self.setModel(h, "bad.onnx")
        #expect(try h.exec(["systemctl", "reload", "kiln"]).status == 0)
        #expect(try Self.wait(30) { try h.journal(priority: "err").contains("still serving /etc/kiln/b.onnx") }, "\(h.log())")
        #expect(try h.property("MainPID") == pid, "reloads must not restart kiln")
        #expect(try h.property("ActiveState") == "active")
        #expect(try h.property("NRestarts") == "0")

        // The hardening as systemd applies it to the running unit.
        let security = try h.exec(["systemd-analyze", "security", "--no-pager", "kiln.service"]).output
        let score = security.split(separator: "\n").first { $0.contains("Overall exposure level") }
            .flatMap { $0.split(separator: ":").last?.split(separator: " ").first }.flatMap { Double($0) }
        #expect(score != nil && score! <= 2.5, "systemd-analyze security: \(security.suffix(300))")

        // Stop drains: exit 0, not killed.
        let stop = try h.exec(["systemctl", "stop", "kiln"], timeout: 40)
        #expect(stop.status == 0)
        #expect(try h.property("ExecMainStatus") == "0")
        #expect(try h.property("Result") == "success")

        // Uninstall keeps configuration and state; --purge removes them.
        let un = try Self.install(h, ["--uninstall"])
        #expect(un.status == 0, "\(un.output)")
        let kept = try h.shell("test ! -e /etc/systemd/system/kiln.service && test ! -e /usr/local/bin/kiln && test ! -e /usr/local/share/doc/kiln && test -f /etc/kiln/kiln.conf && test -f /var/lib/kiln/upgrade-marker && echo kept-ok")
        #expect(kept.output.contains("kept-ok"), "after --uninstall: \(kept.output)")
        let purge = try Self.install(h, ["--uninstall", "--purge"])
        #expect(purge.status == 0, "\(purge.output)")
        let gone = try h.shell("test ! -e /etc/kiln && test ! -e /var/lib/kiln && test ! -e /var/lib/private/kiln && test ! -e /var/cache/private/kiln && echo gone-ok")
        #expect(gone.output.contains("gone-ok"), "after --purge: \(gone.output)")
        #expect(try h.property("LoadState") == "not-found")
    }

    @Test func aHungOrCrashingKilnLeavesABacktraceAndIsReplacedWithin45Seconds() throws {
        guard let h = try Self.boot() else { return }
        defer { h.stop() }
        try Self.configureAndInstall(h)
        #expect(try Self.wait(60) { try h.property("StatusText").contains("fps") }, "\(h.log())")
        let hung = try h.property("MainPID")
        let since = try h.now()
        let start = Date()
        #expect(try h.exec(["kill", "-STOP", hung]).status == 0)
        let replaced = try Self.wait(60) {
            let pid = try h.property("MainPID")
            guard pid != hung && pid != "0" else { return false }
            return try h.property("ActiveState") == "active"
        }
        let seconds = Date().timeIntervalSince(start)
        #expect(replaced && seconds <= 45, "replaced \(replaced) after \(seconds) s:\n\(h.log(since: since))")
        let err = try h.journal(since: since, priority: "err")
        #expect(err.contains("Watchdog timeout"), "\(err)")
        // The runtime's backtracer: the crash and every thread's stack, at err.
        #expect(err.contains("Program crashed") && err.contains("Thread 0"), "no backtrace in journalctl -p err:\n\(err)")
        #expect(try h.property("NRestarts") == "1")

        // A crashing kiln (SIGSEGV, as a fault in a kernel would raise): a backtrace at err and a
        // replacement after RestartSec, counted as the second restart.
        let crashing = try h.property("MainPID")
        let crashSince = try h.now()
        #expect(try h.exec(["kill", "-SEGV", crashing]).status == 0)
        let restarted = try Self.wait(30) {
            let pid = try h.property("MainPID")
            guard pid != crashing && pid != "0" else { return false }
            return try h.property("ActiveState") == "active"
        }
        #expect(restarted, "not replaced after SIGSEGV:\n\(h.log(since: crashSince))")
        let crashErr = try h.journal(since: crashSince, priority: "err")
        #expect(crashErr.contains("Program crashed") && crashErr.contains("Thread 0"), "no backtrace after SIGSEGV:\n\(crashErr)")
        #expect(try h.property("NRestarts") == "2")
    }
}

/// `Tests/systemd/harness.sh`: a booted systemd in private namespaces and commands run inside.
struct SystemdHarness {
    /// The repository root.
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardizedFileURL
    /// Where the harness directory is visible inside the namespaces.
    static let inside = "/mnt"
    /// The harness directory on this side.
    let dir: URL

    /// A command's exit status and its output (stdout and stderr together).
    struct Result {
        var status: Int32
        var output: String
    }

    /// Boots systemd in a fresh directory.
    static func boot() throws -> SystemdHarness {
        let dir = try TestEnvironment.temporaryDirectory("kiln-systemd")
        let h = SystemdHarness(dir: dir)
        let r = try h.harness(["boot", dir.path], timeout: 60)
        guard r.status == 0 else {
            h.stop()
            throw HarnessError(message: "harness.sh boot failed (\(r.status)): \(r.output)")
        }
        return h
    }

    /// Runs `arguments` inside, bounded by `timeout` seconds.
    func exec(_ arguments: [String], timeout: Double = 60) throws -> Result {
        try harness(["exec", dir.path] + arguments, timeout: timeout, environment: ["HARNESS_TIMEOUT": String(Int(timeout))])
    }

    /// Runs a bash script inside; fails the test when it does not exit 0.
    @discardableResult
    func shell(_ script: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> Result {
        let r = try exec(["bash", "-c", script])
        #expect(r.status == 0, "\(script): \(r.output)", sourceLocation: sourceLocation)
        return r
    }

    /// One property of kiln.service (`systemctl show -p NAME --value`).
    func property(_ name: String) throws -> String {
        try exec(["systemctl", "show", "kiln.service", "-p", name, "--value"]).output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// `property(name)` for a failure message: empty when it cannot be read.
    func show(_ name: String) -> String { (try? property(name)) ?? "" }

    /// `journal(since:)` for a failure message: empty when it cannot be read.
    func log(since: String? = nil) -> String { (try? journal(since: since)) ?? "" }

    /// The realtime clock inside, for `journal(since:)`.
    func now() throws -> String {
        "@" + (try exec(["date", "+%s.%N"]).output.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// kiln.service's journal (systemd's messages about it and kiln's own), optionally from a time
    /// and at or above a priority.
    func journal(since: String? = nil, priority: String? = nil) throws -> String {
        var args = ["journalctl", "-u", "kiln.service", "--no-pager", "-o", "cat"]
        if let since { args += ["--since", since] }
        if let priority { args += ["-p", priority] }
        return try exec(args).output
    }

    /// Ends the booted systemd and removes the directory.
    func stop() {
        _ = try? harness(["stop", dir.path], timeout: 30)
        try? FileManager.default.removeItem(at: dir)
    }

    /// Runs harness.sh with its output in a file (never a pipe a namespace could keep open) and
    /// a deadline after which it is killed.
    private func harness(_ arguments: [String], timeout: Double, environment: [String: String] = [:]) throws -> Result {
        let log = dir.deletingLastPathComponent().appendingPathComponent("\(dir.lastPathComponent).call-\(UUID().uuidString).log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: log) }
        let out = try FileHandle(forWritingTo: log)
        defer { try? out.close() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [Self.repository.appendingPathComponent("Tests/systemd/harness.sh").path] + arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = out
        process.standardError = out
        try process.run()
        let deadline = Date().addingTimeInterval(timeout + 10)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            throw HarnessError(message: "harness.sh \(arguments.joined(separator: " ")) ran past \(Int(timeout)) s")
        }
        process.waitUntilExit()
        return Result(status: process.terminationStatus, output: (try? String(contentsOf: log, encoding: .utf8)) ?? "")
    }

    /// A harness step that failed.
    struct HarnessError: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }
}
