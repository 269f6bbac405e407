import Glibc
import KilnSystem
import Testing

@Suite struct SubprocessTests {
    /// Runs `script` under /bin/sh and returns its output lines and exit.
    static func shell(_ script: String, group: Subprocess.ProcessGroup, timeout: Double = 20) throws -> ([String], Subprocess.Exit) {
        var lines: [String] = []
        let exit = try Subprocess.run("/bin/sh", ["-c", script], processGroup: group, timeout: timeout) { lines.append($0) }
        return (lines, exit)
    }

    @Test func childInheritsOnlyStandardDescriptorsNotOurPipes() throws {
        // An unrelated pipe of ours (close-on-exec, as every pipe Kiln makes) must not leak into the child.
        let ours = try FileDescriptor.pipe()
        defer {
            ours.readEnd.closeIgnoringErrors()
            ours.writeEnd.closeIgnoringErrors()
        }
        let (lines, exit) = try Self.shell("ls /proc/$$/fd", group: .own)
        #expect(exit == .exited(0))
        #expect(lines.sorted() == ["0", "1", "2"], "the shell's descriptors: \(lines)")
    }

    @Test func ownGroupIsLedByTheChildAndParentGroupIsOurs() throws {
        let (own, _) = try Self.shell("cut -d' ' -f5 /proc/$$/stat; echo $$", group: .own)
        #expect(own.count == 2 && own[0] == own[1], "own group: pgid \(own)")
        let (shared, _) = try Self.shell("cut -d' ' -f5 /proc/$$/stat", group: .parent)
        #expect(shared == [String(getpgrp())])
    }

    @Test func timeoutKillsTheWholeGroupIncludingGrandchildren() throws {
        let start = MonotonicClock.now
        let (lines, exit) = try Self.shell("sleep 30 & echo $!; wait", group: .own, timeout: 0.5)
        #expect(exit == .timedOut(seconds: 0.5))
        #expect(MonotonicClock.now - start < 10)
        let grandchild = try #require(lines.first.flatMap { pid_t($0) })
        // Gone, or a zombie awaiting its new parent: either way no longer running.
        var running = true
        for _ in 0..<100 {
            let stat = (try? AtomicFile.read("/proc/\(grandchild)/stat")).flatMap { $0 }.map { String(decoding: $0, as: UTF8.self) }
            running = stat.map { !$0.contains(") Z") } ?? false
            if !running { break }
            usleep(20_000)
        }
        #expect(!running, "sleep \(grandchild) survived the group kill")
    }

    @Test func exitStatusAndSignalAreReported() throws {
        #expect(try Self.shell("exit 7", group: .own).1 == .exited(7))
        #expect(try Self.shell("kill -TERM $$", group: .own).1 == .signaled(SIGTERM))
        #expect(Subprocess.Exit.exited(7).status == 7 && Subprocess.Exit.signaled(9).status == nil)
    }

    @Test func childGetsDefaultSignalActionsEvenWhenWeIgnoreThem() throws {
        signal(SIGTERM, SIG_IGN)
        defer { signal(SIGTERM, SIG_DFL) }
        let child = try Subprocess.shell("exec sleep 30")
        defer {
            child.standardOutput.closeIgnoringErrors()
            child.standardError?.closeIgnoringErrors()
        }
        usleep(100_000)
        child.terminate()
        #expect(child.wait() == .signaled(SIGTERM))
    }

    @Test func outputCapturesAllOfStdoutAndLeavesStderrOurs() throws {
        let (bytes, exit) = try Subprocess.output("/bin/sh", ["-c", "echo out; readlink /proc/$$/fd/2; exit 3"])
        #expect(exit == .exited(3))
        var target = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/fd/2", &target, target.count - 1)
        try #require(n > 0)
        let ours = String(decoding: target[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        #expect(String(decoding: bytes, as: UTF8.self) == "out\n\(ours)\n")
        // More than a pipe holds: read while the child writes, never a deadlock.
        let (large, done) = try Subprocess.output("/bin/sh", ["-c", "head -c 300000 /dev/zero"])
        #expect(done == .exited(0) && large.count == 300_000)
    }

    @Test func missingProgramIsATypedErrorNamingIt() {
        #expect { try Subprocess("/nonexistent/kiln-tool", [], processGroup: .own) } throws: {
            "\($0)".contains("/nonexistent/kiln-tool") && ($0 as? SystemError)?.errno == .noSuchFileOrDirectory
        }
    }

    @Test func stdinPipeCarriesRequestsAndItsCloseEndsTheChild() throws {
        // A line-per-request worker: each line written is answered before the next is sent.
        let child = try Subprocess("/bin/sh", ["-c", "while read line; do echo \"got $line\"; done; echo bye"],
                                   processGroup: .own, input: .pipe)
        let input = try #require(child.standardInput)
        defer {
            child.standardOutput.closeIgnoringErrors()
            child.standardError?.closeIgnoringErrors()
        }
        var answers: [String] = []
        for request in ["one", "two"] {
            try input.writeAll(Array((request + "\n").utf8))
            var line: [UInt8] = []
            var byte: UInt8 = 0
            while try withUnsafeMutableBytes(of: &byte, { try child.standardOutput.read(into: $0) }) == 1, byte != 10 { line.append(byte) }
            answers.append(String(decoding: line, as: UTF8.self))
        }
        #expect(answers == ["got one", "got two"])
        try input.close()
        #expect(String(decoding: try child.standardOutput.readToEnd(), as: UTF8.self) == "bye\n")
        #expect(child.wait() == .exited(0))
        // Without `.pipe` stdin is /dev/null and there is no write end.
        let plain = try Subprocess("/bin/sh", ["-c", "cat"], processGroup: .own)
        defer { plain.standardOutput.closeIgnoringErrors(); plain.standardError?.closeIgnoringErrors() }
        #expect(plain.standardInput == nil)
        #expect(try plain.standardOutput.readToEnd().isEmpty && plain.wait() == .exited(0))
    }

    @Test func captureKeepsStdoutAndStderrApartWithoutStalling() throws {
        // Both streams larger than a pipe holds, written interleaved.
        let (output, errors, exit) = try Subprocess.capture("/bin/sh", ["-c", "for i in 1 2 3; do head -c 100000 /dev/zero; head -c 100000 /dev/zero | tr '\\0' e >&2; done; exit 5"])
        #expect(exit == .exited(5))
        #expect(output.count == 300_000 && output.allSatisfy { $0 == 0 })
        #expect(errors.count == 300_000 && errors.allSatisfy { $0 == UInt8(ascii: "e") })
    }
}
