import Foundation
import KilnCore
import KilnRegistry

/// The rollout state file cannot be read or written; names the file and the fix.
public struct RolloutStateError: KilnError {
    /// What went wrong, with the path.
    public var message: String
    /// Creates an error.
    public init(_ message: String) { self.message = message }
    public var description: String { message }
    public var exitCode: ExitCode { .runtimeFailure }
}

/// Loads and saves `RolloutState` atomically in the state directory.
public struct RolloutStateStore: Sendable {
    /// The state file's path.
    public let path: String

    /// A store in `directory` (default: `KilnDirectories().state`), file `rollout.json`.
    public init(directory: String = KilnDirectories().state) { path = directory + "/rollout.json" }

    /// The saved state, or an empty one if none was saved; a corrupt file is an error naming it.
    public func load() throws(RolloutStateError) -> RolloutState {
        guard let data = FileManager.default.contents(atPath: path) else { return RolloutState() }
        do { return try JSONDecoder().decode(RolloutState.self, from: data) } catch {
            throw RolloutStateError("rollout state \(path) is corrupt (\(error)); move it aside to start fresh")
        }
    }

    /// Saves atomically (temp file, fsync, rename, directory fsync).
    public func save(_ state: RolloutState) throws(RolloutStateError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        do {
            try AtomicFile.write(Array(try encoder.encode(state)), to: path)
        } catch {
            throw RolloutStateError("cannot save the rollout state to \(path): \(error); check the state directory's permissions and free space")
        }
    }
}
