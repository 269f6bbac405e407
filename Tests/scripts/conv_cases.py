"""Writes convolution cases for the reference backend's specialised kernels, with onnxruntime
(CPU) outputs, in ONNX's test_data_set format: OUT/<case>/model.onnx and OUT/<case>/test_data_set_0/.

Depthwise cases cover both depthwise kernels (channel-blocked for 5x5 windows and small planes,
per-plane for 3x3 windows on larger planes): strides 1 and 2, dilation, asymmetric padding,
channel counts that are not a multiple of the 8-channel block, batch 2, a fused activation.
Dense cases with at most 64 output positions cover the small-output kernel (6 positions x 32
channels tiles): 3x3 at strides 1 and 2, 1x1, channel counts that are not a multiple of 32,
batch 2, a fused activation and a fused residual Add + Relu. Larger dense cases cover the
phase-plane GEMM: output rows from 7 to 70 wide, so B panels span one to five output rows."""
import os, sys
import numpy as np
import onnx
from onnx import helper, TensorProto, numpy_helper
import onnxruntime as ort

out_dir = sys.argv[1]
rng = np.random.default_rng(7)


def save(name, graph, feeds):
    """Writes OUT/name/model.onnx and test_data_set_0 with the feeds and onnxruntime's output."""
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    case_dir = os.path.join(out_dir, name)
    data_dir = os.path.join(case_dir, "test_data_set_0")
    os.makedirs(data_dir, exist_ok=True)
    onnx.save(model, os.path.join(case_dir, "model.onnx"))
    y = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    for i, (key, value) in enumerate(feeds.items()):
        with open(os.path.join(data_dir, f"input_{i}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(value, key).SerializeToString())
    with open(os.path.join(data_dir, "output_0.pb"), "wb") as f:
        f.write(numpy_helper.from_array(y, "y").SerializeToString())

# name, batch, channels, h, w, kernel (kh, kw), strides, dilations, pads (t, l, b, r), activation
cases = [
    ("k5_s1_c13_9x11_hardswish", 1, 13, 9, 11, (5, 5), (1, 1), (1, 1), (2, 2, 2, 2), "HardSwish"),
    ("k5_s2_c24_14x14_relu", 1, 24, 14, 14, (5, 5), (2, 2), (1, 1), (2, 2, 2, 2), "Relu"),
    ("k5_s1_c16_7x7", 2, 16, 7, 7, (5, 5), (1, 1), (1, 1), (2, 2, 2, 2), None),
    ("k3_s1_c10_12x5_pads_1_0_2_3", 1, 10, 12, 5, (3, 3), (1, 1), (1, 1), (1, 0, 2, 3), "HardSwish"),
    ("k3_s2_c9_16x16_dilation2", 1, 9, 16, 16, (3, 3), (2, 2), (2, 2), (2, 2, 2, 2), "Relu"),
    ("k3x5_s1_c8_6x13", 1, 8, 6, 13, (3, 5), (1, 1), (1, 1), (1, 2, 1, 2), None),
    ("k3_s1_c12_40x37_hardswish", 1, 12, 40, 37, (3, 3), (1, 1), (1, 1), (1, 1, 1, 1), "HardSwish"),
    # Per-plane rows 26 and 12 wide: the 32- and 16-output passes of the AVX-512 rows.
    ("k3_s1_c9_20x26_relu", 1, 9, 20, 26, (3, 3), (1, 1), (1, 1), (1, 1, 1, 1), "Relu"),
    ("k3_s1_c4_30x12", 2, 4, 30, 12, (3, 3), (1, 1), (1, 1), (1, 1, 1, 1), None),
    ("k3_s2_c20_33x30_relu", 2, 20, 33, 30, (3, 3), (2, 2), (1, 1), (1, 1, 1, 1), "Relu"),
    ("k3_s2_c12_24x20_pads_0_1_1_0_hardswish", 1, 12, 24, 20, (3, 3), (2, 2), (1, 1), (0, 1, 1, 0), "HardSwish"),
]
dense = [
    # name, batch, in channels, out channels, h, w, kernel, stride, pads, activation, residual
    ("dense_k3_s1_c40to64_7x7_relu", 1, 40, 64, 7, 7, 3, 1, 1, "Relu", False),
    ("dense_k3_s2_c24to48_13x13", 2, 24, 48, 13, 13, 3, 2, 1, None, False),
    ("dense_k1_c70to96_5x6_hardswish", 1, 70, 96, 5, 6, 1, 1, 0, "HardSwish", False),
    ("dense_k3_s1_c32to40_7x7_residual_relu", 1, 32, 40, 7, 7, 3, 1, 1, "Relu", True),
    # More than 64 positions: the phase-plane GEMM, whose B panels of 32 (AVX-512) or 16 output
    # positions span one to many output rows, with a 16-wide last panel on some.
    ("dense_k3_s1_c3to16_40x70_relu", 1, 3, 16, 40, 70, 3, 1, 1, "Relu", False),
    ("dense_k3_s1_c16to24_20x18_residual_hardswish", 2, 16, 24, 20, 18, 3, 1, 1, "HardSwish", True),
    ("dense_k3_s1_c8to20_12x12_relu", 1, 8, 20, 12, 12, 3, 1, 1, "Relu", False),
    ("dense_k3_s2_c6to12_23x21", 1, 6, 12, 23, 21, 3, 2, 1, None, False),
    ("dense_k5_s1_c4to8_9x9", 1, 4, 8, 9, 9, 5, 1, 2, None, False),
    ("dense_k3_s1_c5to8_15x7", 1, 5, 8, 15, 7, 3, 1, 1, None, False),
    # K of 256 or more and enough rows: at 2 threads each thread computes a band of output rows.
    ("dense_k3_s1_c32to24_24x24_residual_relu", 1, 32, 24, 24, 24, 3, 1, 1, "Relu", True),
    ("dense_k3_s2_c30to20_47x45", 2, 30, 20, 47, 45, 3, 2, 1, None, False),
    # At most 4 positions: the matrix-vector path, K not a multiple of its 8 and 48-float steps.
    ("dense_k1_c37to50_2x2_hardswish", 1, 37, 50, 2, 2, 1, 1, 0, "HardSwish", False),
    ("dense_k3_s1_c70to40_1x1", 2, 70, 40, 1, 1, 3, 1, 1, None, False),
]
for name, n, cin, cout, h, w, k, s, p, act, residual in dense:
    wt = (rng.standard_normal((cout, cin, k, k)) * 0.2).astype(np.float32)
    b = (rng.standard_normal(cout) * 0.1).astype(np.float32)
    oh = (h + 2 * p - k) // s + 1
    ow = (w + 2 * p - k) // s + 1
    conv_out = "c" if (act or residual) else "y"
    nodes = [helper.make_node("Conv", ["x", "w", "b"], [conv_out], kernel_shape=[k, k], strides=[s, s], pads=[p] * 4)]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [n, cin, h, w])]
    last = conv_out
    if residual:
        inputs.append(helper.make_tensor_value_info("r", TensorProto.FLOAT, [n, cout, oh, ow]))
        nodes.append(helper.make_node("Add", [last, "r"], ["s" if act else "y"]))
        last = "s" if act else "y"
    if act:
        nodes.append(helper.make_node(act, [last], ["y"]))
    g = helper.make_graph(nodes, name, inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, [n, cout, oh, ow])],
                          [numpy_helper.from_array(wt, "w"), numpy_helper.from_array(b, "b")])
    feeds = {"x": rng.standard_normal((n, cin, h, w)).astype(np.float32)}
    if residual:
        feeds["r"] = rng.standard_normal((n, cout, oh, ow)).astype(np.float32)
    save(name, g, feeds)

for name, n, c, h, w, k, s, d, p, act in cases:
    wt = (rng.standard_normal((c, 1, *k)) * 0.3).astype(np.float32)
    b = (rng.standard_normal(c) * 0.1).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c" if act else "y"], kernel_shape=list(k), strides=list(s),
                              dilations=list(d), pads=list(p), group=c)]
    if act:
        nodes.append(helper.make_node(act, ["c"], ["y"]))
    oh = (h + p[0] + p[2] - (d[0] * (k[0] - 1) + 1)) // s[0] + 1
    ow = (w + p[1] + p[3] - (d[1] * (k[1] - 1) + 1)) // s[1] + 1
    g = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [n, c, h, w])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [n, c, oh, ow])],
                          [numpy_helper.from_array(wt, "w"), numpy_helper.from_array(b, "b")])
    save(name, g, {"x": rng.standard_normal((n, c, h, w)).astype(np.float32)})
print(len(cases) + len(dense))
