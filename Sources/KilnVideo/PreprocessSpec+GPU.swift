import KilnCUDA

extension PreprocessSpec {
    /// The GPU kernel's parameters for a `frameWidth`×`frameHeight` frame: the same geometry and
    /// constants `CPUPreprocessor` uses, so both paths compute the same numbers.
    public func gpuParameters(frameWidth: Int, frameHeight: Int) -> GPUPreprocessParameters {
        let g = geometry(frameWidth: frameWidth, frameHeight: frameHeight)
        return GPUPreprocessParameters(width: width, height: height, contentWidth: g.contentWidth, contentHeight: g.contentHeight,
                                       padX: g.padX, padY: g.padY, outputBGR: channelOrder == .bgr, mean: mean, std: std,
                                       padValue: padValue, half: outputType == .float16)
    }
}
