import KilnTensorRT

extension Kiln {
    /// `kiln --version`: what this build contains that differs between builds (the TensorRT headers
    /// the bridge was compiled against, or why it is the stub).
    static var versionText: String {
        "kiln\nTensorRT bridge: \(TensorRTLibrary.bridgeDescription)"
    }
}
