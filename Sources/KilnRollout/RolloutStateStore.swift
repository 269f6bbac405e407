import Foundation
import KilnCore
import KilnRegistry

/// Loads and saves `RolloutState` atomically in the state directory.
public struct RolloutStateStore: Sendable {
    /// The state file's path.
    public let path: String

    /// A store in `directory` (default: `KilnDirectories().state`), file `rollout.json`.
    public init(directory: String = KilnDirectories().state) { path = directory + "/rollout.json" }

    /// The saved state, or an empty one if none was saved; a corrupt file is a runtime error naming it.
    public func load() throws(RuntimeError) -> RolloutState {
        guard let data = FileManager.default.contents(atPath: path) else { return RolloutState() }
        do { return try JSONDecoder().decode(RolloutState.self, from: data) } catch {
            throw RuntimeError("rollout state \(path) is corrupt (\(error)); move it aside to start fresh")
        }
    }

    /// Saves atomically (temp file, fsync, rename, directory fsync); a failure is a runtime error
    /// naming the file and the fix.
    public func save(_ state: RolloutState) throws(RuntimeError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        do {
            try AtomicFile.write(Array(try encoder.encode(state)), to: path)
        } catch {
            throw RuntimeError("cannot save the rollout state to \(path): \(error); check the state directory's permissions and free space")
        }
    }
}
