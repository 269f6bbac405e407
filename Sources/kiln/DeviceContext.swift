import KilnCore

/// The device, its profile and the engine cache, resolved from the flags every device-aware
/// command shares: `--profile NAME`, `--profiles-dir DIR`, `--cache-dir DIR`, `--sysroot DIR`.
struct DeviceContext {
    /// The profiles in use (embedded, overlaid with `--profiles-dir`).
    var catalog: ProfileCatalog
    /// What detection found and the profile chosen.
    var detection: DeviceDetection
    /// The engine cache, with the profile's disk budget.
    var cache: EngineCache

    /// Flag help shared by the commands that take these flags.
    static let flagHelp = """
          --profile NAME       Use device profile NAME instead of detecting it (kiln doctor lists the choice)
          --profiles-dir DIR   Also load DIR/*.json profiles; a file named like a built-in profile replaces it
          --cache-dir DIR      Engine cache directory (default $CACHE_DIRECTORY, $XDG_CACHE_HOME/kiln, ~/.cache/kiln)
          --sysroot DIR        Read /proc and /etc device files under DIR (a copied root filesystem; no GPU query)
        """

    /// Consumes the shared flags and resolves the device, with the CUDA device query of GPU 0
    /// (none under `--sysroot`, which describes another machine).
    static func resolve(_ arguments: inout Arguments) throws -> DeviceContext {
        let profileName = try arguments.option("--profile")
        let profilesDir = try arguments.option("--profiles-dir")
        let cacheDir = try arguments.option("--cache-dir")
        let sysroot = try arguments.option("--sysroot") ?? "/"
        let catalog = try ProfileCatalog.embedded(overlaidWith: profilesDir)
        let gpu = sysroot == "/" ? BackendProbe.gpu() : nil
        let detection = try DeviceDetector(root: sysroot).detect(gpu: gpu, catalog: catalog, override: profileName)
        let cache = EngineCache(profile: detection.profile, directory: cacheDir)
        return DeviceContext(catalog: catalog, detection: detection, cache: cache)
    }
}
