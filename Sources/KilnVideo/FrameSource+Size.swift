extension FrameSource {
    /// Unknown until the first frame, unless the source says otherwise.
    public var frameSize: FrameSize? { nil }
}

extension SyntheticSource {
    /// The generated size.
    public var frameSize: FrameSize? { FrameSize(width: width, height: height) }
}

extension FileSource {
    /// The declared raw geometry or the Y4M header's size.
    public var frameSize: FrameSize? { FrameSize(width: geometry.width, height: geometry.height) }
}

extension PipeSource {
    /// The declared geometry or the Y4M header's size.
    public var frameSize: FrameSize? { FrameSize(width: geometry.width, height: geometry.height) }
}

extension V4L2Source {
    /// The negotiated capture size.
    public var frameSize: FrameSize? { FrameSize(width: geometry.width, height: geometry.height) }
}
