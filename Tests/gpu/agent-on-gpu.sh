#!/usr/bin/env bash
# The agent itself on a machine with an NVIDIA GPU and no Swift toolchain, from statically
# linked release binaries:
#   swift build -c release --static-swift-stdlib --product kiln       (and --product kiln-bench)
#   Tests/gpu/agent-on-gpu.sh DIR_WITH_BINARIES [OUT_DIR] [MODEL.onnx]
# Shows: kiln doctor; kiln demo twice (engine cache miss then hit) with preprocessing on the GPU
# (the NVRTC kernel) inside the frame loop; the loop-overhead benchmark, pipelined vs serial, CPU
# and GPU preprocessing; CPU preprocessing vs OpenCV when python3 has cv2; kiln run on MODEL.
set -uo pipefail
BIN_SRC=${1:?usage: agent-on-gpu.sh DIR_WITH_BINARIES [OUT_DIR] [MODEL.onnx]}
OUT_DIR=${2:-${OUT:-/tmp/kiln-gpu-out}}
MODEL=${3:-}
mkdir -p "$OUT_DIR"
BIN=$(mktemp -d)
for name in kiln kiln-bench; do
    if [ -f "$BIN_SRC/$name.xz" ]; then xz -dc "$BIN_SRC/$name.xz" > "$BIN/$name"; chmod +x "$BIN/$name";
    elif [ -f "$BIN_SRC/$name" ]; then cp "$BIN_SRC/$name" "$BIN/$name"; fi
done
export XDG_CACHE_HOME
XDG_CACHE_HOME=$(mktemp -d)
PY=$(command -v python3)
{
    echo "== nproc $(nproc); $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader)"
    echo "== kiln doctor"; "$BIN/kiln" doctor
    for run in 1 2; do
        echo "== kiln demo, run $run"
        "$BIN/kiln" demo --duration 5s --json --report-interval 0
    done
    echo "== kiln demo, 4 streams stacked into batched calls"
    "$BIN/kiln" demo --duration 5s --source synthetic --source synthetic --source synthetic --source synthetic --report-interval 0
    echo "== kiln-bench loop (pipelined vs serial; CPU and GPU preprocessing)"
    "$BIN/kiln-bench" loop --frames 600 --gpu
    echo "== kiln-bench preprocess (Kiln CPU vs OpenCV, one thread each)"
    "$BIN/kiln-bench" preprocess --python "$PY" --iterations 300
    if [ -n "$MODEL" ]; then
        echo "== kiln run $MODEL (reference backend, GPU preprocessing)"
        "$BIN/kiln" run "$MODEL" --duration 5s --preprocess stretch,bgr,imagenet --postprocess topk:1 --report-interval 0
    fi
} 2>&1 | tee "$OUT_DIR/agent.txt"
