import KilnCore
import KilnInference
import KilnVideo
import KilnTensorRT

extension EngineFactory {
    /// The factory for this device: the backend `backend` names (`auto` picks the first
    /// available), build options from the profile with `precision` and `threads` applied, and
    /// the cache with the profile's workspace plan recorded in its entries; TensorRT builds run
    /// in `engineBuildChild`. With `isolation`, every other backend's builds run in that child too
    /// (`IsolatedBackend`), and so do a rollout candidate's first inferences (`EngineTrial`).
    public static func forDevice(_ device: DeviceDetection, cache: EngineCache, backend: String, precision: Precision?,
                                 threads: Int, preprocess: String?, streams: Int, sourceSize: FrameSize? = nil,
                                 engineBuildChild: EngineBuildChildCommand, isolation: ChildLimits? = nil,
                                 catalog: BackendCatalog? = nil) throws -> EngineFactory {
        var backend = try (catalog ?? BackendCatalog.standard(engineBuildChild: engineBuildChild)).select(backend)
        let child = isolation.map { IsolatedChild(command: engineBuildChild, limits: $0) }
        if let child, !(backend is TensorRTBackend) { backend = IsolatedBackend(inner: backend, child: child) }
        let profile = device.profile
        let workspace = WorkspacePlan(profile: profile, facts: device.facts)
        var options = profile.defaultBuildOptions(workspace: workspace)
        if let precision { options.precision = precision }
        options.threads = threads
        let preparer = EnginePreparer(cache: cache, context: CacheEntryContext(
            device: device.facts.deviceName, profile: profile.name, plannedWorkspaceBytes: workspace.workspaceBytes))
        var factory = EngineFactory(backend: backend, options: options, preparer: preparer, preprocessOverride: preprocess, streams: streams,
                                    sourceSize: sourceSize, inputSideCap: profile.inputSideCap)
        factory.isolation = child
        return factory
    }
}
