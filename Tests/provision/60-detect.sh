# Detectors and recognisers as users run them: PP-OCRv4 det/rec and the direction classifier
# (rapidocr-onnxruntime wheel) and ddddocr's YOLOX-style detector (ddddocr wheel), under
# $KILN_TEST_DATA/models/.
need_apt unzip

fetch_detect_models() {
    local dir="$KILN_TEST_DATA/models"
    [ -s "$dir/common_det.onnx" ] && [ -s "$dir/ch_PP-OCRv4_rec_infer.onnx" ] && return 0
    mkdir -p "$dir"
    local tmp pip="$KILN_TEST_DATA/venv/bin/pip"
    tmp="$(mktemp -d)"
    "$pip" download -q --disable-pip-version-check --no-deps rapidocr-onnxruntime==1.4.4 ddddocr==1.6.1 -d "$tmp"
    unzip -q -o -j "$tmp"/rapidocr_onnxruntime-1.4.4-*.whl 'rapidocr_onnxruntime/models/*.onnx' -d "$tmp/out"
    unzip -q -o -j "$tmp"/ddddocr-1.6.1-*.whl 'ddddocr/common_det.onnx' -d "$tmp/out"
    mv "$tmp"/out/*.onnx "$dir/"
    rm -rf "$tmp"
}
after_install fetch_detect_models
