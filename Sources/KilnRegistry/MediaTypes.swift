/// The media types, artifact types and annotation keys Kiln reads and writes.
public enum MediaTypes {
    /// OCI image manifest.
    public static let ociManifest = "application/vnd.oci.image.manifest.v1+json"
    /// OCI image index.
    public static let ociIndex = "application/vnd.oci.image.index.v1+json"
    /// Docker v2 schema 2 manifest.
    public static let dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
    /// Docker v2 manifest list.
    public static let dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
    /// Every manifest type Kiln accepts, for `Accept`.
    public static let acceptedManifests = [ociManifest, ociIndex, dockerManifest, dockerManifestList]

    /// CNCF ModelPack: the manifest's `artifactType`.
    public static let modelArtifact = "application/vnd.cncf.model.manifest.v1+json"
    /// CNCF ModelPack: the config blob.
    public static let modelConfig = "application/vnd.cncf.model.config.v1+json"
    /// CNCF ModelPack: an unarchived weight file (the ONNX model).
    public static let modelWeightRaw = "application/vnd.cncf.model.weight.v1.raw"
    /// CNCF ModelPack: a tar of data set files (Kiln's golden data).
    public static let modelDatasetTar = "application/vnd.cncf.model.dataset.v1.tar"
    /// The OCI empty config (`{}`), as `oras push` writes it.
    public static let ociEmpty = "application/vnd.oci.empty.v1+json"
}

/// Annotation keys.
public enum AnnotationKeys {
    /// ModelPack: the file path a layer unpacks to.
    public static let filepath = "org.cncf.model.filepath"
    /// OCI: the file name of a layer (what `oras push` sets).
    public static let title = "org.opencontainers.image.title"
    /// OCI: the tag in an image layout's `index.json`.
    public static let refName = "org.opencontainers.image.ref.name"
    /// OCI: creation time.
    public static let created = "org.opencontainers.image.created"
    /// Kiln: preprocessing description (free text the run loop interprets, e.g. `bgr,imagenet`).
    public static let preprocess = "dev.kiln.preprocess"
    /// Kiln: shape profiles as JSON `{"input": {"min":[…],"opt":[…],"max":[…]}}`.
    public static let shapeProfiles = "dev.kiln.shape-profiles"
    /// Kiln: postprocessing shipped with the model, JSON
    /// `{"method":"yolo","conf":0.3,"iou":0.6,"max_det":100,"classes":[0,2],"agnostic_nms":true,"labels":[…]}`.
    public static let postprocess = "dev.kiln.postprocess"
    /// Kiln: precision policy (`fp32`, `fp16`, `int8`, `bf16`, `best`).
    public static let precision = "dev.kiln.precision"
    /// Kiln: latency SLO, p99 in milliseconds.
    public static let sloP99 = "dev.kiln.slo.p99-ms"
    /// Kiln: rollout percentage (0–100) of the fleet that takes this artifact.
    public static let rolloutPercentage = "dev.kiln.rollout.percentage"
    /// Kiln: rollout identifier (defaults to the manifest digest).
    public static let rolloutID = "dev.kiln.rollout.id"
    /// Kiln: golden-data tolerance override (`rtol,atol`).
    public static let goldenTolerance = "dev.kiln.golden.tolerance"
    /// Kiln: marks the dataset layer that holds golden data.
    public static let golden = "dev.kiln.golden"
}
