import Foundation
import KilnCore

/// The `kiln` command-line entry point: dispatches to subcommands and maps errors to exit codes.
@main
enum Kiln {
    /// Every subcommand, in the order `kiln --help` lists them.
    static let commands: [any Command.Type] = [
        BuildEngineCommand.self,
        DemoCommand.self,
        RunCommand.self,
        VerifyCommand.self,
        DoctorCommand.self,
        CacheCommand.self,
        InspectCommand.self,
        PublishCommand.self,
        PullCommand.self,
        StatusCommand.self,
        SelfTestCommand.self,
    ]

    static let exitCodes = """
        Exit codes: 0 ok, 1 runtime failure, 2 usage error, 3 invalid model or engine,
        4 a required component (TensorRT, CUDA driver, NVRTC) is missing (kiln selftest).
        """

    static func overview() -> String {
        let width = commands.map { $0.name.count }.max() ?? 0
        let lines = commands.map { "  \($0.name.padding(toLength: width, withPad: " ", startingAt: 0))  \($0.summary)" }
        return """
            kiln: fires ONNX models into engines for this device, caches them, and runs them on video.

            Usage: kiln COMMAND [ARGUMENTS]

            Commands:
            \(lines.joined(separator: "\n"))
              help       Show help for a command (kiln help COMMAND)
              --version  Show what this build contains (the TensorRT headers its bridge was compiled against)
              --quiet    (with any command) no progress on stderr; otherwise long steps (pulls,
                         uploads, builds, gates, probation) show a line on a terminal, or plain
                         log lines at most every 10 s on a pipe, in a file or under journald

            \(exitCodes)
            """
    }

    static func main() async {
        #if os(Linux)
        FatalSignal.install()  // a watchdog's SIGABRT (or any fatal signal) ends Kiln once the backtrace is printed
        #endif
        var argv = Array(CommandLine.arguments.dropFirst())
        guard let name = argv.first, !["--help", "-h", "help"].contains(name) || argv.count > 1 else {
            print(overview())
            exit(0)
        }
        argv.removeFirst()
        if name == "--version" {
            print(versionText)
            exit(0)
        }
        if name == "help" || name == "--help" || name == "-h" {
            guard let command = commands.first(where: { $0.name == argv.first }) else {
                FileHandle.standardError.write(Data("kiln: unknown command \(argv.first ?? ""); run `kiln --help`\n".utf8))
                exit(ExitCode.usage.rawValue)
            }
            print(command.help)
            exit(0)
        }
        guard let command = commands.first(where: { $0.name == name }) else {
            FileHandle.standardError.write(Data("kiln: unknown command \(name); run `kiln --help` for the list\n".utf8))
            exit(ExitCode.usage.rawValue)
        }
        if argv.contains("--help") || argv.contains("-h") {
            print(command.help)
            exit(0)
        }
        if argv.contains("--quiet") {
            argv.removeAll { $0 == "--quiet" }
        } else {
            ProgressRenderer.forStandardError().install()
        }
        var arguments = Arguments(argv, command: name)
        do {
            let code = try await command.run(&arguments)
            finish(code.rawValue)
        } catch let error as KilnError {
            // Usage errors already start with `kiln NAME:`; others get it here.
            let text = error.description.hasPrefix("kiln \(name):") ? error.description : "kiln \(name): \(error.description)"
            Log.fatal(text)
            finish(error.exitCode.rawValue)
        } catch {
            Log.fatal("kiln \(name): \(error)")
            finish(ExitCode.runtimeFailure.rawValue)
        }
    }

    /// Ends the process after a command ran: flushes stdio and leaves with `_exit`.
    ///
    /// A command may leave threads of its own winding down (a loop thread releasing its last
    /// references, a dispatch timer); `exit` would run the runtime's static destructors under
    /// them, which can crash ("free(): invalid pointer") after the work is done and reported.
    /// Everything Kiln writes is already flushed or written with write(2), so nothing is lost.
    static func finish(_ code: Int32) -> Never {
        fflush(nil)  // every output stream
        _exit(code)
    }
}
