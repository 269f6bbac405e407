import Foundation

/// Where Kiln keeps state that must survive restarts.
public enum StateDirectory {
    /// `$STATE_DIRECTORY` (systemd `StateDirectory=`), else `$XDG_STATE_HOME/kiln`, else
    /// `~/.local/state/kiln`.
    public static func path(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let s = environment["STATE_DIRECTORY"], !s.isEmpty { return String(s.split(separator: ":")[0]) }
        if let x = environment["XDG_STATE_HOME"], !x.isEmpty { return x + "/kiln" }
        return (environment["HOME"] ?? FileManager.default.homeDirectoryForCurrentUser.path) + "/.local/state/kiln"
    }
}
