#!/usr/bin/env bash
# Compiles Kiln's TensorRT bridge (Sources/CKilnTensorRT/kiln_trt.cpp) against NVIDIA's real public
# headers of every TensorRT release Kiln supports, then runs `swift build` with TensorRT 10.3's
# headers placed where JetPack 6 puts them and no environment variables: of the bridge's probe
# (`kiln-tensorrt-probe`: Package.swift's header search and the bridge, in seconds), or with
# --jetpack-full of all of `kiln` (minutes), checking that `kiln --version` and `kiln doctor`
# name TensorRT 10.3.0.
#
# Usage: Tests/scripts/tensorrt-compile-matrix.sh [--matrix-only|--jetpack-only|--jetpack-full]
# Needs: ../shared/tensorrt-headers (beside the repository; see its README), CUDA's headers from the
# nvidia-cuda-runtime/nvidia-cuda-crt wheels in $KILN_TEST_DATA/cuda-headers (Tests/provision/55-tensorrt.sh),
# clang++ (Swift's toolchain) and, for the JetPack layout, `unshare` (a private mount namespace, so
# the machine's own /usr/include and /usr/local are never changed).
# Exit status: 0 all passed; 1 a check failed; 77 a prerequisite is missing (the caller decides
# whether that skips, outside CI, or fails, under CI=true).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
headers="${KILN_TENSORRT_HEADERS:-$root/../shared/tensorrt-headers}"
if [ ! -d "$headers" ] && common="$(git -C "$root" rev-parse --path-format=absolute --git-common-dir 2>/dev/null)"; then
    # A git worktree: ../shared beside the main checkout.
    [ -d "$(dirname "$common")/../shared/tensorrt-headers" ] && headers="$(dirname "$common")/../shared/tensorrt-headers"
fi
data="${KILN_TEST_DATA:-$HOME/.cache/kiln-test}"
cuda="$data/cuda-headers/nvidia/cu13/include"
mode="${1:-all}"

missing() { echo "tensorrt-compile-matrix: missing: $*" >&2; exit 77; }
[ -d "$headers" ] || missing "TensorRT headers at $headers (../shared/tensorrt-headers beside the repository, or set KILN_TENSORRT_HEADERS)"
[ -s "$cuda/cuda_runtime_api.h" ] || missing "CUDA headers at $cuda (run bash Tests/run.sh to provision Tests/provision/55-tensorrt.sh)"
cxx="$(command -v clang++ || true)"
[ -n "$cxx" ] || missing "clang++"

failed=0
if [ "$mode" = all ] || [ "$mode" = --matrix-only ]; then
    out="$(mktemp -d)"
    trap 'rm -rf "$out"' EXIT
    for version in 8.2.1 8.5.2 8.6.1 10.3.0 10.13.3 11.1; do
        include="$headers/$version/include"
        if [ ! -s "$include/NvInfer.h" ]; then echo "FAIL $version: no $include/NvInfer.h"; failed=1; continue; fi
        # KILN_TRT_REQUIRE_REAL turns "compiled to the stub" into an error: the real bridge must compile.
        if log="$("$cxx" -std=c++17 -Werror=return-type -DKILN_TRT_REQUIRE_REAL -c -o "$out/kiln_trt-$version.o" \
                -I "$root/Sources/CKilnTensorRT/include" -I "$include" -I "$cuda" "$root/Sources/CKilnTensorRT/kiln_trt.cpp" 2>&1)"; then
            echo "ok   TensorRT $version: real bridge compiled"
        else
            echo "FAIL TensorRT $version:"; echo "$log" | grep -E "error|warning" | head -20; failed=1
        fi
    done
fi

if [ "$mode" != "--matrix-only" ]; then
    full=0; [ "$mode" = --jetpack-full ] && full=1
    command -v unshare >/dev/null || missing "unshare (util-linux)"
    command -v swift >/dev/null || missing "swift"
    arch="$(uname -m)-linux-gnu"
    stage="$data/jetpack-layout"
    scratch="$data/jetpack-layout-build"
    rm -rf "$stage"
    mkdir -p "$stage/multiarch" "$stage/usr-local" "$scratch"
    # JetPack 6.1/6.2: TensorRT 10.3's headers in /usr/include/<arch>-linux-gnu, CUDA's in /usr/local/cuda/include.
    for f in "$headers/10.3.0/include/"*; do ln -s "$f" "$stage/multiarch/$(basename "$f")"; done
    mkdir -p "$stage/usr-local/cuda"
    ln -s "$cuda" "$stage/usr-local/cuda/include"
    # Overlays in a private mount namespace: the real directories stay as they are for everyone else.
    # `swift build` is bounded by the caller's timeout; the scratch path is reused between runs.
    ns=(unshare -m --propagation private)
    [ "$(id -u)" = 0 ] || ns=(unshare -r -m --propagation private)  # a user namespace where root is not at hand
    if ! "${ns[@]}" bash -euo pipefail -c '
        mount -t overlay overlay -o "lowerdir=$1/multiarch:/usr/include/$2" "/usr/include/$2"
        mount -t overlay overlay -o "lowerdir=$1/usr-local:/usr/local" /usr/local
        cd "$3"
        if [ "$5" = 1 ]; then
            env -u TENSORRT_INCLUDE -u CUDA_INCLUDE -u CUDA_HOME -u CUDA_PATH \
                swift build --product kiln --scratch-path "$4" --manifest-cache none 2>&1 | tail -3
            exe="$4/debug/kiln"
            version="$("$exe" --version)"
            doctor="$("$exe" doctor --cache-dir "$(mktemp -d)" 2>&1 || true)"
            echo "$doctor" | grep -i tensorrt
            echo "$doctor" | grep -q "TensorRT 10.3.0 headers"
        else
            env -u TENSORRT_INCLUDE -u CUDA_INCLUDE -u CUDA_HOME -u CUDA_PATH \
                swift build --product kiln-tensorrt-probe --scratch-path "$4" --manifest-cache none 2>&1 | tail -3
            version="$("$4/debug/kiln-tensorrt-probe")"
        fi
        echo "$version"
        echo "$version" | grep -q "TensorRT bridge: TensorRT 10.3.0 headers"
    ' jetpack "$stage" "$arch" "$root" "$scratch" "$full"; then
        echo "FAIL JetPack layout: a build with TensorRT 10.3 headers in /usr/include/$arch and CUDA in /usr/local/cuda does not name TensorRT 10.3.0"
        failed=1
    else
        if [ "$full" = 1 ]; then echo "ok   JetPack layout: kiln --version and kiln doctor name TensorRT 10.3.0 headers"
        else echo "ok   JetPack layout: the bridge built by swift build names TensorRT 10.3.0 headers"; fi
    fi
fi
exit "$failed"
