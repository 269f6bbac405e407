/// What the optimizer fused into a convolution (`ReferenceOp.conv` or `.kilnConv`): the activation
/// applied to its output and how its weight input is packed. Empty for every other node.
struct ConvFusion: Sendable, Equatable {
    /// How the optimizer packed a `kilnConv`'s constant weights.
    enum Layout: UInt8, Sendable, Equatable {
        /// GEMM row panels (`Conv2DPlan.pack`).
        case rowPanels = 1
        /// Channel panels for small output maps (`Conv2DPlan.packChannelPanels`).
        case channelPanels = 2
    }

    /// A packed weight input: its layout and the weights' shape before packing.
    struct PackedWeights: Sendable, Equatable {
        /// How the weights are laid out.
        var layout: Layout
        /// The weight tensor's shape in the model (the packed tensor is flat).
        var shape: [Int]
    }

    /// The activation applied to the output (a fused Relu, Clip, …); `.none` when nothing was fused.
    var activation: Activation = .none
    /// The packed weights of a `kilnConv`; nil when the weight input is as in the model.
    var packedWeights: PackedWeights?

    /// True when nothing was fused.
    var isEmpty: Bool { self == ConvFusion() }
}
