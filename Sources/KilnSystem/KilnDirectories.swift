import Foundation

/// Where Kiln keeps its files, resolved once by one rule for every kind of file:
/// systemd's per-unit directory (`CacheDirectory=` → `$CACHE_DIRECTORY`, first entry), else the
/// XDG base directory (absolute paths only, as the spec says) plus `/kiln`, else the home default.
///
/// | kind          | systemd                    | XDG                          | home                   |
/// |---------------|----------------------------|------------------------------|------------------------|
/// | cache         | `$CACHE_DIRECTORY`         | `$XDG_CACHE_HOME/kiln`       | `~/.cache/kiln`        |
/// | state         | `$STATE_DIRECTORY`         | `$XDG_STATE_HOME/kiln`       | `~/.local/state/kiln`  |
/// | configuration | `$CONFIGURATION_DIRECTORY` | `$XDG_CONFIG_HOME/kiln`      | `~/.config/kiln`       |
///
/// `KILN_CACHE_DIR` overrides the cache, `KILN_STORE` the model store (default `cache/models`).
/// The home directory is `$HOME`, else the password database's, else `/tmp`.
public struct KilnDirectories: Sendable, Equatable {
    /// Engines, compiled kernels and pulled models (rebuildable).
    public var cache: String
    /// What must survive restarts (rollout state).
    public var state: String
    /// Configuration files.
    public var configuration: String
    /// The local OCI model store.
    public var store: String
    /// Compiled GPU kernels (`cache/kernels`).
    public var kernels: String { cache + "/kernels" }

    /// Resolves every directory from `environment`.
    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        let home = Self.home(environment)
        func resolve(_ systemd: String, _ xdg: String, _ homeRelative: String) -> String {
            if let dir = environment[systemd]?.split(separator: ":").first, !dir.isEmpty { return String(dir) }
            if let base = environment[xdg], base.hasPrefix("/") { return base + "/kiln" }
            return home + "/" + homeRelative
        }
        if let dir = environment["KILN_CACHE_DIR"], !dir.isEmpty {
            cache = dir
        } else {
            cache = resolve("CACHE_DIRECTORY", "XDG_CACHE_HOME", ".cache/kiln")
        }
        state = resolve("STATE_DIRECTORY", "XDG_STATE_HOME", ".local/state/kiln")
        configuration = resolve("CONFIGURATION_DIRECTORY", "XDG_CONFIG_HOME", ".config/kiln")
        if let dir = environment["KILN_STORE"], !dir.isEmpty { store = dir } else { store = cache + "/models" }
    }

    private static func home(_ environment: [String: String]) -> String {
        if let home = environment["HOME"], !home.isEmpty { return home }
        if let entry = getpwuid(getuid()), let dir = entry.pointee.pw_dir {
            let home = String(cString: dir)
            if !home.isEmpty { return home }
        }
        return "/tmp"
    }
}
