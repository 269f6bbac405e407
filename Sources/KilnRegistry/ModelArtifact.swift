import Foundation
import KilnCore

/// A model artifact's structure, read from its manifest: which layer is the ONNX model, which
/// (if any) holds golden data, and Kiln's annotations.
///
/// Accepts CNCF ModelPack manifests (artifactType `application/vnd.cncf.model.manifest.v1+json`,
/// the ONNX file as a `weight.v1.raw` layer with `org.cncf.model.filepath`) and what
/// `oras push model.onnx` writes (one layer whose `org.opencontainers.image.title` ends in
/// `.onnx`, any media type).
public struct ModelArtifact: Sendable, Equatable {
    /// The manifest.
    public var manifest: OCIManifest
    /// The ONNX model layer.
    public var modelLayer: OCIDescriptor
    /// The golden-data tar layer, if the artifact has one.
    public var goldenLayer: OCIDescriptor?
    /// Kiln's annotations.
    public var annotations: KilnAnnotations

    /// Finds the model and golden layers; throws `invalidArtifact` naming `source` when the
    /// manifest holds no ONNX model.
    public init(manifest: OCIManifest, source: String) throws {
        self.manifest = manifest
        func path(_ d: OCIDescriptor) -> String? {
            d.annotations?[AnnotationKeys.filepath] ?? d.annotations?[AnnotationKeys.title]
        }
        let weights = manifest.layers.filter { $0.mediaType == MediaTypes.modelWeightRaw }
        if let layer = weights.first(where: { path($0)?.hasSuffix(".onnx") ?? false }) ?? (weights.count == 1 ? weights.first : nil) {
            modelLayer = layer
        } else if let layer = manifest.layers.first(where: { path($0)?.lowercased().hasSuffix(".onnx") ?? false }) {
            modelLayer = layer
        } else {
            let layers = manifest.layers.map { "\($0.mediaType) \(path($0) ?? "(no file name)")" }.joined(separator: ", ")
            throw RegistryError(.invalidArtifact, "artifact \(source) holds no ONNX model: expected a \(MediaTypes.modelWeightRaw) layer or a layer titled *.onnx, found [\(layers)]; publish it with `kiln publish MODEL.onnx --to REF`")
        }
        goldenLayer = manifest.layers.first {
            $0.annotations?[AnnotationKeys.golden] == "true"
                || ($0.mediaType == MediaTypes.modelDatasetTar && path($0)?.hasPrefix("golden") == true)
        }
        annotations = try KilnAnnotations(annotations: manifest.annotations ?? [:], source: source)
    }
}

/// What `kiln publish` assembles before writing: blobs on disk and the manifest bytes.
public struct ModelArtifactBuilder: Sendable {
    /// A blob to write: its descriptor and where its bytes are.
    public struct Blob: Sendable {
        /// The descriptor.
        public var descriptor: OCIDescriptor
        /// The file holding its bytes.
        public var path: String
    }

    /// Config, model, golden (if any): every blob the manifest references.
    public var blobs: [Blob]
    /// The manifest's canonical JSON bytes.
    public var manifestBytes: [UInt8]
    /// The manifest's digest.
    public var manifestDigest: Digest { Digest.of(manifestBytes) }
    /// The manifest.
    public var manifest: OCIManifest

    /// Assembles a ModelPack artifact for `modelPath`, with golden data from `goldenDirectory`
    /// (a directory of `test_data_set_N/{input_K.pb,output_K.pb}`) tarred into `workDirectory`.
    public init(modelPath: String, goldenDirectory: String?, annotations: KilnAnnotations, name: String?,
                workDirectory: String, created: Date = Date()) throws {
        guard FileManager.default.isReadableFile(atPath: modelPath) else {
            throw RegistryError(.io, "model \(modelPath) does not exist or is not readable")
        }
        let (modelDigest, modelSize) = try FileDigest.of(path: modelPath)
        let fileName = (modelPath as NSString).lastPathComponent
        var layers = [OCIDescriptor(mediaType: MediaTypes.modelWeightRaw, digest: modelDigest, size: modelSize,
                                    annotations: [AnnotationKeys.filepath: fileName, AnnotationKeys.title: fileName])]
        var blobs: [Blob] = [Blob(descriptor: layers[0], path: modelPath)]
        if let goldenDirectory {
            let entries = try TarArchive.entries(fromDirectory: goldenDirectory)
            guard entries.contains(where: { $0.path.hasSuffix(".pb") }) else {
                throw RegistryError(.invalidArtifact, "golden data \(goldenDirectory) holds no test_data_set_N/*.pb files; write input_K.pb and output_K.pb (ONNX TensorProto) per set")
            }
            let tar = try TarArchive.write(entries)
            let digest = Digest.of(tar)
            let path = workDirectory + "/golden-" + digest.hex + ".tar"
            try AtomicFile.write(tar, to: path)
            let layer = OCIDescriptor(mediaType: MediaTypes.modelDatasetTar, digest: digest, size: Int64(tar.count),
                                      annotations: [AnnotationKeys.filepath: "golden.tar", AnnotationKeys.golden: "true"])
            layers.append(layer)
            blobs.append(Blob(descriptor: layer, path: path))
        }
        let timestamp = ISO8601DateFormatter().string(from: created)
        let config = ModelPackConfig(
            descriptor: .init(name: name ?? (fileName as NSString).deletingPathExtension, createdAt: timestamp),
            config: .init(format: "onnx", precision: annotations.precision?.rawValue),
            modelfs: .init(type: "layers", diffIds: layers.map { $0.digest.description }))
        let configBytes = try CanonicalJSON.encode(config)
        let configDigest = Digest.of(configBytes)
        let configPath = workDirectory + "/config-" + configDigest.hex + ".json"
        try AtomicFile.write(configBytes, to: configPath)
        let configDescriptor = OCIDescriptor(mediaType: MediaTypes.modelConfig, digest: configDigest, size: Int64(configBytes.count))
        blobs.insert(Blob(descriptor: configDescriptor, path: configPath), at: 0)
        var manifestAnnotations = try annotations.manifestAnnotations()
        manifestAnnotations[AnnotationKeys.created] = timestamp
        manifest = OCIManifest(artifactType: MediaTypes.modelArtifact, config: configDescriptor, layers: layers,
                               annotations: manifestAnnotations)
        manifestBytes = try CanonicalJSON.encode(manifest)
        self.blobs = blobs
    }
}

/// The ModelPack config blob (`application/vnd.cncf.model.config.v1+json`), the fields Kiln writes.
public struct ModelPackConfig: Sendable, Codable, Equatable {
    /// Descriptive metadata.
    public var descriptor: Descriptor
    /// Model properties.
    public var config: Config
    /// The layer digests, in order.
    public var modelfs: ModelFS

    /// ModelPack `descriptor`.
    public struct Descriptor: Sendable, Codable, Equatable {
        /// The model's name.
        public var name: String?
        /// RFC 3339 creation time.
        public var createdAt: String?
    }

    /// ModelPack `config`.
    public struct Config: Sendable, Codable, Equatable {
        /// `onnx`.
        public var format: String?
        /// Precision policy.
        public var precision: String?
    }

    /// ModelPack `modelfs`.
    public struct ModelFS: Sendable, Codable, Equatable {
        /// `layers`.
        public var type: String
        /// Layer digests.
        public var diffIds: [String]
    }
}
