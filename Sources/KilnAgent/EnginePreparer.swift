import Foundation
import KilnCore
import KilnInference

/// A runner ready to serve, and how it was obtained.
public struct PreparedEngine: Sendable {
    /// The loaded engine.
    public var runner: any InferenceRunner
    /// Whether the engine came from the cache (`hit`), was built (`miss`), or replaced a corrupt entry.
    public var outcome: CacheOutcome
    /// The engine cache key (hex sha256).
    public var key: String
    /// The backend's identity the engine is bound to.
    public var identity: BackendIdentity
    /// The options it was built with.
    public var options: BuildOptions
    /// Seconds spent building (0 on a hit).
    public var buildSeconds: Double
    /// Seconds spent reading and loading the engine.
    public var loadSeconds: Double
}

/// Turns a model into a loaded engine through the engine cache: key, lookup or build, load.
///
/// A cached engine that passes its sha256 check but that the backend still refuses to load
/// (for example an engine file from a build with a bug) is deleted and rebuilt once.
public struct EnginePreparer: Sendable {
    /// The cache engines are stored in.
    public var cache: EngineCache
    /// Device and profile, recorded in entry metadata.
    public var context: CacheEntryContext

    /// Creates a preparer over `cache`.
    public init(cache: EngineCache, context: CacheEntryContext = CacheEntryContext()) {
        cache.removeStaleTemporaries()
        self.cache = cache
        self.context = context
    }

    /// The cache key `model` would have when built by `backend` with `options`.
    public func key(model: ModelSource, backend: any InferenceBackend, options: BuildOptions) throws -> EngineCacheKey {
        EngineCacheKey(modelDigest: model.digest, identity: try backend.identity(), options: options)
    }

    /// Looks up or builds, then loads, on the calling thread (call it through `BlockingWork`).
    public func prepare(model: ModelSource, backend: any InferenceBackend, options: BuildOptions) throws -> PreparedEngine {
        let key = try key(model: model, backend: backend, options: options)
        var options = options
        if backend.name == "tensorrt", options.timingCachePath == nil {
            // Beside the engines, keyed by TensorRT version and device; `kiln cache gc` cleans it.
            options.timingCachePath = try? cache.timingCachePath(for: key.identity)
        }
        var buildSeconds = 0.0
        for attempt in 0..<2 {
            let (artifact, outcome) = try cache.lookupOrBuild(key: key, context: context) {
                let t0 = MonotonicClock.now
                Log.notice("building \(backend.name) engine for \(model.name) (\(model.digest.prefix(19))…)")
                var artifact = try backend.build(model: model, options: options)
                buildSeconds = MonotonicClock.now - t0
                if artifact.buildSeconds == 0 { artifact.buildSeconds = buildSeconds }
                Log.notice(String(format: "built %@ engine in %.2f s (%d bytes)", backend.name, buildSeconds, artifact.bytes.count))
                return artifact
            }
            let t0 = MonotonicClock.now
            do {
                let runner = try backend.load(artifact, options: options)
                return PreparedEngine(runner: runner, outcome: outcome, key: key.digest, identity: artifact.identity,
                                      options: options, buildSeconds: outcome == .hit ? 0 : buildSeconds,
                                      loadSeconds: MonotonicClock.now - t0)
            } catch {
                guard attempt == 0, outcome == .hit else { throw error }
                Log.warning("cached engine \(key.digest.prefix(12)) failed to load (\(error)); deleting and rebuilding")
                _ = try cache.remove(key.digest)
            }
        }
        throw RuntimeError("engine for \(model.name) could not be prepared")
    }
}
