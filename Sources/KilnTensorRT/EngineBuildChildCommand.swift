/// How the isolated builder starts its child process: an executable and the arguments that come
/// before `--request FILE --workspace BYTES`.
///
/// The program embedding Kiln's TensorRT layer supplies it (the `kiln` executable passes itself with
/// its `build-engine` subcommand); the library never assumes a command name.
public struct EngineBuildChildCommand: Sendable, Equatable {
    /// The child's executable path.
    public var executable: String
    /// Arguments before `--request FILE --workspace BYTES`.
    public var arguments: [String]

    /// Creates a child command.
    public init(executable: String, arguments: [String]) {
        self.executable = executable
        self.arguments = arguments
    }
}
