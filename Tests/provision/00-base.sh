# Base: the Python reference stack used by several suites (onnxruntime is the oracle for real models).
need_apt python3-venv xz-utils
need_pip onnx==1.22.0 onnxruntime==1.31.1 numpy==2.4.6
