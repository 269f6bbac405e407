#!/usr/bin/env bash
# Kiln's hardware checks on a machine with an NVIDIA GPU (CUDA driver + NVRTC installed), using
# statically linked release binaries, so the machine needs no Swift toolchain:
#   swift build -c release --static-swift-stdlib --product kiln-bench   (and --product kiln)
#   Tests/gpu/run-on-gpu.sh DIR_WITH_BINARIES [OUT_DIR]
# DIR may hold kiln-bench / kiln or their .xz. Shows the device query, NVRTC compiling the
# preprocessing kernels for the local sm_XX and the second run loading the cached cubin, the GPU
# output checked against CPUPreprocessor (float32 <= 1e-5, float16 <= 1 ulp), and the benchmark
# table against torch's chain (when python3 has torch). The same checks run as `.gpu`-tagged
# Swift tests (KilnCUDATests) wherever `swift test` runs on a GPU machine.
set -uo pipefail
BIN_SRC=${1:?usage: run-on-gpu.sh DIR_WITH_BINARIES [OUT_DIR]}
OUT_DIR=${2:-${OUT:-/tmp/kiln-gpu-out}}
mkdir -p "$OUT_DIR"
BIN=$(mktemp -d)
for name in kiln-bench kiln; do
    if [ -f "$BIN_SRC/$name.xz" ]; then xz -dc "$BIN_SRC/$name.xz" > "$BIN/$name"; chmod +x "$BIN/$name";
    elif [ -f "$BIN_SRC/$name" ]; then cp "$BIN_SRC/$name" "$BIN/$name"; fi
done
status=0
{
    echo "== machine"
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv
    ldconfig -p | grep -E "libcuda\.so\.1|libnvrtc\.so\.1" || true
    python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)' 2>&1 || true
    ldd "$BIN/kiln-bench" | sed 's/^/  ldd: /'
} 2>&1 | tee "$OUT_DIR/machine.txt"
export KILN_CACHE_DIR
KILN_CACHE_DIR=$(mktemp -d)
echo "== run 1: empty kernel cache ($KILN_CACHE_DIR)" | tee "$OUT_DIR/run1.txt"
"$BIN/kiln-bench" gpu-preprocess --python "$(command -v python3)" --iterations "${ITERATIONS:-200}" 2>&1 | tee -a "$OUT_DIR/run1.txt" || status=1
ls -l "$KILN_CACHE_DIR/kernels" | tee -a "$OUT_DIR/run1.txt"
echo "== run 2: same kernel cache, new process" | tee "$OUT_DIR/run2.txt"
"$BIN/kiln-bench" gpu-preprocess --no-torch --iterations "${ITERATIONS:-200}" 2>&1 | tee -a "$OUT_DIR/run2.txt" || status=1
if command -v cuobjdump >/dev/null; then
    echo "== kernel resource usage (cuobjdump -res-usage)" | tee "$OUT_DIR/cubin.txt"
    cuobjdump -res-usage "$KILN_CACHE_DIR"/kernels/*.cubin 2>&1 | tee -a "$OUT_DIR/cubin.txt"
fi
if [ -x "$BIN/kiln" ]; then
    echo "== kiln (static) on this machine" | tee "$OUT_DIR/kiln.txt"
    "$BIN/kiln" doctor 2>&1 | tee -a "$OUT_DIR/kiln.txt"
    # The isolated builder's child on a machine with a GPU but no TensorRT: a clear, typed refusal.
    printf '\x08\x07' > /tmp/kiln-model.onnx
    printf '{"modelPath":"/tmp/kiln-model.onnx","enginePath":"/tmp/kiln-model.plan","options":{"precision":"fp16","workspaceBytes":268435456,"shapeProfiles":{},"optimizationLevel":3,"threads":0},"method":"auto"}' > /tmp/kiln-request.json
    echo "-- kiln build-engine (no TensorRT on this machine)" | tee -a "$OUT_DIR/kiln.txt"
    "$BIN/kiln" build-engine --request /tmp/kiln-request.json --workspace 268435456 2>&1 | tee -a "$OUT_DIR/kiln.txt"
    echo "exit status: ${PIPESTATUS[0]}" | tee -a "$OUT_DIR/kiln.txt"
fi
exit $status
