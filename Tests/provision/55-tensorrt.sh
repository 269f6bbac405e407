# TensorRT compile checks: CUDA's runtime headers (NvInfer.h includes cuda_runtime_api.h) from
# NVIDIA's nvidia-cuda-runtime and nvidia-cuda-crt wheels, unpacked into
# $KILN_TEST_DATA/cuda-headers (not the venv: the headers are only compiled against). TensorRT's
# own headers come from ../shared/tensorrt-headers (see Tests/scripts/tensorrt-compile-matrix.sh).

provision_tensorrt() {
    local dest="$KILN_TEST_DATA/cuda-headers"
    [ -s "$dest/nvidia/cu13/include/cuda_runtime_api.h" ] && [ -s "$dest/nvidia/cu13/include/crt/host_defines.h" ] && return 0
    local tmp
    tmp="$(mktemp -d)"
    "$KILN_TEST_DATA/venv/bin/pip" install -q --disable-pip-version-check --no-deps --target "$tmp" \
        nvidia-cuda-runtime==13.5.37 nvidia-cuda-crt==13.5.37
    rm -rf "$dest"
    mv "$tmp" "$dest"
}
after_install provision_tensorrt
