#!/usr/bin/env bash
# Coverage-guided fuzzing of Kiln's ONNX model and TensorProto readers with libFuzzer and
# AddressSanitizer (swiftc -sanitize=fuzzer,address). Seeds: the onnx==1.22.0 conformance data.
#
#   bash Tests/fuzz/libfuzzer.sh [RUNS] [extra libFuzzer flags…]     (default 1000000 runs)
#
# Builds KilnCore and KilnONNX from source into .build/libfuzzer (outside SwiftPM, because the
# fuzzer entry point replaces `main`), copies seeds into a scratch corpus there, and runs.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS="${1:-1000000}"; shift || true
OUT=.build/libfuzzer
PY="${KILN_TEST_DATA:-$HOME/.cache/kiln-test}/venv/bin/python3"
mkdir -p "$OUT/corpus"
FLAGS=(-sanitize=fuzzer,address -O -g -parse-as-library -swift-version 6)
swiftc "${FLAGS[@]}" -wmo -c -module-name KilnCore -emit-module -emit-module-path "$OUT/KilnCore.swiftmodule" \
    Sources/KilnCore/*.swift -o "$OUT/KilnCore.o"
swiftc "${FLAGS[@]}" -wmo -c -module-name KilnONNX -I "$OUT" -emit-module -emit-module-path "$OUT/KilnONNX.swiftmodule" \
    Sources/KilnONNX/*.swift -o "$OUT/KilnONNX.o"
swiftc "${FLAGS[@]}" -I "$OUT" Tests/fuzz/ONNXFuzzTarget.swift "$OUT/KilnCore.o" "$OUT/KilnONNX.o" -o "$OUT/fuzz-onnx"
if [ -z "$(ls -A "$OUT/corpus")" ]; then
    NODE=$("$PY" -c "import onnx,os;print(os.path.join(os.path.dirname(onnx.__file__),'backend','test','data','node'))")
    i=0
    find "$NODE" \( -name model.onnx -o -name '*.pb' \) -size -64k | sort | while read -r f; do
        i=$((i + 1)); cp "$f" "$OUT/corpus/seed-$i"
    done
fi
exec "$OUT/fuzz-onnx" -runs="$RUNS" -max_len=65536 -rss_limit_mb=4096 -print_final_stats=1 "$@" "$OUT/corpus"
