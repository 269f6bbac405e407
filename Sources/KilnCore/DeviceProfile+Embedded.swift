extension DeviceProfile {
    /// The repository's `Profiles/*.json`, byte for byte, as SwiftPM compiles them in
    /// (`resources: [.embedInCode("Profiles")]` on KilnCore, whose `Profiles` links to the top-level
    /// directory), so `kiln` works without the repository.
    ///
    /// A file added to `Profiles/` is listed here too; `ProfileEmbeddingTests` fails until it is.
    public static let embeddedJSON: [[UInt8]] = [
        PackageResources.agx_orin_32gb_json, PackageResources.agx_orin_64gb_json, PackageResources.agx_xavier_json,
        PackageResources.cpu_only_json, PackageResources.generic_discrete_json, PackageResources.jetson_nano_4gb_json,
        PackageResources.jetson_tx2_json, PackageResources.orin_nano_4gb_json, PackageResources.orin_nano_8gb_json,
        PackageResources.orin_nx_8gb_json, PackageResources.orin_nx_16gb_json, PackageResources.thor_json,
        PackageResources.xavier_nx_json,
    ]
}
