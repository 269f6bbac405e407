import KilnCore
import KilnInference
import KilnVideo
import KilnTensorRT

extension EngineFactory {
    /// The factory for this device: the backend `backend` names (`auto` picks the first
    /// available), build options from the profile with `precision` and `threads` applied, and
    /// the cache with the profile's workspace plan recorded in its entries; TensorRT builds run
    /// in `engineBuildChild`. With `isolation`, every other backend's builds run in that child too
    /// (`IsolatedBackend`), and so do a rollout candidate's first inferences (`EngineTrial`);
    /// TensorRT's builder child gets its memory limit (no address-space limit) and timeout.
    public static func forDevice(_ device: DeviceDetection, cache: EngineCache, backend: String, precision: Precision?,
                                 threads: Int, preprocess: String?, streams: Int, sourceSize: FrameSize? = nil,
                                 engineBuildChild: EngineBuildChildCommand, isolation: ChildLimits? = nil,
                                 catalog: BackendCatalog? = nil) throws -> EngineFactory {
        let child = isolation.map { IsolatedChild(command: engineBuildChild, limits: $0) }
        let backend = isolated(try (catalog ?? BackendCatalog.standard(engineBuildChild: engineBuildChild)).select(backend), child: child)
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

    /// `backend` bounded by `child`'s limits: any backend but TensorRT builds in that child
    /// (`IsolatedBackend`); TensorRT keeps its own builder child (workspace retries), which gets the
    /// same memory limit, without an address-space limit (CUDA's reservations), and timeout.
    public static func isolated(_ backend: any InferenceBackend, child: IsolatedChild?) -> any InferenceBackend {
        guard let child else { return backend }
        guard var tensorRT = backend as? TensorRTBackend else { return IsolatedBackend(inner: backend, child: child) }
        tensorRT.builder.memoryLimitBytes = child.limits.memoryBytes
        tensorRT.builder.timeoutSeconds = child.limits.timeoutSeconds
        return tensorRT
    }
}
