#!/usr/bin/env bash
# Installs Kiln as a systemd service: the binary, the unit with its drop-ins, the README the unit's
# Documentation= names, a default configuration.
#
#   sudo systemd/install.sh [--binary PATH] [--prefix /usr/local] [--backtracer PATH] [--no-start]
#   sudo systemd/install.sh --uninstall [--purge]
#
# Everything is staged and the unit verified (systemd-analyze verify) before anything installed
# is replaced. Re-running upgrades in place: binary, unit and drop-ins are replaced atomically,
# /etc/kiln/kiln.conf and Kiln's state and cache are kept, a running service is restarted. The
# service is enabled and started only once kiln.conf names a model; until then the script says
# what to set. --uninstall stops and removes the service and its files, keeping configuration,
# state and cache; --purge removes those too.
#
# Drop-ins written to /etc/systemd/system/kiln.service.d/:
#   50-devices.conf    DeviceAllow= for the GPU, media, DLA, camera and render nodes present on
#                      this board (`kiln doctor --device-nodes`); re-run after a JetPack upgrade.
#   60-backtrace.conf  SWIFT_BACKTRACE: the static backtracer (swift-backtrace-static, from the
#                      Swift toolchain or --backtracer), so a crash or watchdog abort leaves every
#                      thread's stack in the journal. The dynamic swift-backtrace cannot load under
#                      MemoryDenyWriteExecute=yes (libswiftRuntime.so asks for an executable stack).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
binary="$here/../.build/release/kiln"
prefix=/usr/local
prefix_given=0
backtracer=""
start=1
uninstall=0
purge=0
while [ $# -gt 0 ]; do
    case "$1" in
        --binary) binary="$2"; shift 2 ;;
        --prefix) prefix="$2"; prefix_given=1; shift 2 ;;
        --backtracer) backtracer="$2"; shift 2 ;;
        --no-start) start=0; shift ;;
        --uninstall) uninstall=1; shift ;;
        --purge) purge=1; shift ;;
        -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" = 0 ] || { echo "install.sh: run as root (sudo $0)" >&2; exit 2; }
command -v systemctl >/dev/null || { echo "install.sh: systemctl not found; this script needs systemd" >&2; exit 1; }
[ "$purge" = 0 ] || [ "$uninstall" = 1 ] || { echo "install.sh: --purge goes with --uninstall" >&2; exit 2; }

unit=/etc/systemd/system/kiln.service
dropins=/etc/systemd/system/kiln.service.d
conf=/etc/kiln/kiln.conf

if [ "$uninstall" = 1 ]; then
    # The installed unit knows the prefix it was installed under.
    if [ "$prefix_given" = 0 ] && [ -f "$unit" ]; then
        installed=$(sed -n 's#^ExecStart=\(.*\)/bin/kiln .*#\1#p' "$unit")
        [ -n "$installed" ] && prefix="$installed"
    fi
    systemctl disable --now kiln.service 2>/dev/null || true
    rm -f "$unit" "$dropins/50-devices.conf" "$dropins/60-backtrace.conf"
    [ -d "$dropins" ] && rmdir --ignore-fail-on-non-empty "$dropins"
    rm -f "$prefix/bin/kiln" "$prefix/libexec/kiln/swift-backtrace-static"
    [ -d "$prefix/libexec/kiln" ] && rmdir --ignore-fail-on-non-empty "$prefix/libexec/kiln"
    rm -rf "$prefix/share/doc/kiln"
    systemctl daemon-reload
    systemctl reset-failed kiln.service 2>/dev/null || true
    if [ "$purge" = 1 ]; then
        rm -rf /etc/kiln /var/lib/kiln /var/lib/private/kiln /var/cache/kiln /var/cache/private/kiln \
            /var/log/kiln /var/log/private/kiln
        echo "uninstalled kiln; removed its configuration, state, cache and logs"
    else
        echo "uninstalled kiln; kept /etc/kiln, /var/lib/kiln, /var/cache/kiln and /var/log/kiln (remove them with --uninstall --purge)"
    fi
    [ -d "$dropins" ] && echo "note: $dropins still holds local overrides (systemctl edit kiln); remove it by hand if unwanted"
    exit 0
fi

[ -x "$binary" ] || { echo "install.sh: no kiln binary at $binary; build with 'swift build -c release' or pass --binary PATH" >&2; exit 2; }
binary="$(cd "$(dirname "$binary")" && pwd)/$(basename "$binary")"

# The static backtracer: --backtracer, the toolchain's, or the one a previous install left.
if [ -z "$backtracer" ]; then
    if swift=$(command -v swift 2>/dev/null); then
        candidate="$(dirname "$(readlink -f "$swift")")/../libexec/swift/linux/swift-backtrace-static"
        [ -x "$candidate" ] && backtracer="$candidate"
    fi
    [ -z "$backtracer" ] && [ -x "$prefix/libexec/kiln/swift-backtrace-static" ] && backtracer="$prefix/libexec/kiln/swift-backtrace-static"
elif [ ! -x "$backtracer" ]; then
    echo "install.sh: --backtracer $backtracer is not an executable file; pass the toolchain's libexec/swift/linux/swift-backtrace-static" >&2
    exit 2
fi

# Stage the unit and its drop-ins, then verify them under their real names before replacing anything.
stage=$(mktemp -d /tmp/kiln-install.XXXXXX)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/kiln.service.d"
sed "s#/usr/local/#$prefix/#g" "$here/kiln.service" > "$stage/kiln.service"
nodes=$("$binary" doctor --device-nodes) || { echo "install.sh: '$binary doctor --device-nodes' failed; is $binary a kiln for this machine?" >&2; exit 1; }
{
    echo "# Written by install.sh from 'kiln doctor --device-nodes': the GPU, media, DLA, camera and"
    echo "# render nodes present on this board. Re-run install.sh after a JetPack upgrade."
    echo "[Service]"
    for n in $nodes; do echo "DeviceAllow=$n rw"; done
} > "$stage/kiln.service.d/50-devices.conf"
{
    echo "# Written by install.sh: what the Swift runtime does when Kiln crashes or the watchdog aborts it."
    echo "[Service]"
    if [ -n "$backtracer" ]; then
        echo "# Every thread's stack (the default: threads=all shows only the crashed one in Swift 6.3), symbols"
        echo "# looked up without inline frames (fast), on stderr (journal, priority err);"
        echo "# the static backtracer loads under MemoryDenyWriteExecute=yes, the dynamic one does not."
        echo "Environment=SWIFT_BACKTRACE=enable=yes,interactive=no,color=no,registers=none,images=none,symbolicate=fast,limit=64,top=16,output-to=stderr,swift-backtrace=$prefix/libexec/kiln/swift-backtrace-static"
    else
        echo "# No swift-backtrace-static was found when this was installed (pass --backtracer PATH):"
        echo "# crashes end the process at once, without a backtrace."
        echo "Environment=SWIFT_BACKTRACE=enable=no"
    fi
} > "$stage/kiln.service.d/60-backtrace.conf"
if command -v systemd-analyze >/dev/null; then
    # Verified with ExecStart pointing at the binary being installed (the target may not exist yet).
    mkdir -p "$stage/verify/kiln.service.d"
    sed "s#^ExecStart=$prefix/bin/kiln #ExecStart=$binary #" "$stage/kiln.service" > "$stage/verify/kiln.service"
    cp "$stage/kiln.service.d/"*.conf "$stage/verify/kiln.service.d/"
    if ! out=$(systemd-analyze verify "$stage/verify/kiln.service" 2>&1) || grep -q "kiln.service" <<<"$out"; then
        echo "install.sh: systemd-analyze verify rejected the unit; nothing was changed:" >&2
        echo "$out" >&2
        exit 1
    fi
fi

# Groups the unit joins must exist: JetPack 4 and desktop distributions may lack 'render'.
for g in video render; do
    getent group "$g" >/dev/null || { groupadd --system "$g"; echo "created group $g"; }
done

install -d -m 0755 "$prefix/bin"
install -m 0755 "$binary" "$prefix/bin/kiln.new"
mv -f "$prefix/bin/kiln.new" "$prefix/bin/kiln"
if [ -n "$backtracer" ] && [ "$backtracer" != "$prefix/libexec/kiln/swift-backtrace-static" ]; then
    install -d -m 0755 "$prefix/libexec/kiln"
    install -m 0755 "$backtracer" "$prefix/libexec/kiln/swift-backtrace-static.new"
    mv -f "$prefix/libexec/kiln/swift-backtrace-static.new" "$prefix/libexec/kiln/swift-backtrace-static"
fi
if [ -f "$here/../README.md" ]; then
    install -d -m 0755 "$prefix/share/doc/kiln"
    install -m 0644 "$here/../README.md" "$prefix/share/doc/kiln/README.md.new"
    mv -f "$prefix/share/doc/kiln/README.md.new" "$prefix/share/doc/kiln/README.md"
fi

install -d -m 0755 "$dropins"
for f in 50-devices.conf 60-backtrace.conf; do
    install -m 0644 "$stage/kiln.service.d/$f" "$dropins/$f.new"
    mv -f "$dropins/$f.new" "$dropins/$f"
done
install -m 0644 "$stage/kiln.service" "$unit.new"
mv -f "$unit.new" "$unit"

install -d -m 0755 /etc/kiln
if [ ! -e "$conf" ]; then
    cat > "$conf.new" <<'CONF'
# Kiln configuration: one `key = value` per line; keys are `kiln run`'s long flags.
# The service starts once `model` is set: systemctl enable --now kiln
# Reload after editing: systemctl reload kiln
# model = registry.example.com/fleet/detector:stable
# source = v4l2:/dev/video0:1280x720:yuyv
# metrics-addr = 127.0.0.1:9464
# push-url = http://pushgateway.example.com:9091
CONF
    mv "$conf.new" "$conf"
fi

systemctl daemon-reload
if ! grep -Eq '^[[:space:]]*model[[:space:]]*=[[:space:]]*[^[:space:]]' "$conf"; then
    echo "installed; not started: $conf names no model."
    echo "  set 'model = REFERENCE' (a .onnx file or a registry reference) and 'source = …' in $conf, then:"
    echo "  systemctl enable --now kiln"
elif [ "$start" = 1 ]; then
    systemctl enable kiln.service
    systemctl restart kiln.service
    systemctl --no-pager status kiln.service || true
elif systemctl is-active --quiet kiln.service; then
    echo "installed; the running service still uses the old binary until: systemctl restart kiln"
else
    echo "installed; start with: systemctl enable --now kiln"
fi
