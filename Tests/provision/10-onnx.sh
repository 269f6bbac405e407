# ONNX reader/writer tests: the conformance data inside onnx==1.22.0 (the last release that ships
# onnx/backend/test/data/node on disk). The pin itself lives in 00-base.sh; this checks that the
# installed package really carries the data, so a wrong onnx version fails here, loudly.

check_onnx_node_data() {
    local node
    node=$("$KILN_TEST_DATA/venv/bin/python3" -c "import onnx,os;print(os.path.join(os.path.dirname(onnx.__file__),'backend','test','data','node'))")
    if [ ! -f "$node/test_abs/model.onnx" ]; then
        echo "10-onnx.sh: $node has no ONNX node-test data; onnx must be 1.22.0" >&2
        exit 1
    fi
}
after_install check_onnx_node_data
