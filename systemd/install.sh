#!/usr/bin/env bash
# Installs Kiln as a systemd service: the binary, the unit, a default configuration.
#
#   sudo systemd/install.sh [--binary PATH] [--prefix /usr/local] [--no-start]
#
# Re-running upgrades in place: the binary and unit are replaced atomically, an existing
# /etc/kiln/kiln.conf is kept. The unit runs as a DynamicUser in groups video and render.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
binary="$here/../.build/release/kiln"
prefix=/usr/local
start=1
while [ $# -gt 0 ]; do
    case "$1" in
        --binary) binary="$2"; shift 2 ;;
        --prefix) prefix="$2"; shift 2 ;;
        --no-start) start=0; shift ;;
        -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" = 0 ] || { echo "install.sh: run as root (sudo $0)" >&2; exit 2; }
[ -x "$binary" ] || { echo "install.sh: no kiln binary at $binary; build with 'swift build -c release' or pass --binary PATH" >&2; exit 2; }
command -v systemctl >/dev/null || { echo "install.sh: systemctl not found; this script needs systemd" >&2; exit 1; }

# Groups the unit joins must exist (they do on JetPack; desktop distributions may lack 'render').
for g in video render; do getent group "$g" >/dev/null || groupadd --system "$g"; done

install -d -m 0755 "$prefix/bin"
install -m 0755 "$binary" "$prefix/bin/kiln.new"
mv -f "$prefix/bin/kiln.new" "$prefix/bin/kiln"

unit=/etc/systemd/system/kiln.service
sed "s#/usr/local/bin/kiln#$prefix/bin/kiln#g" "$here/kiln.service" > "$unit.new"
if command -v systemd-analyze >/dev/null; then systemd-analyze verify "$unit.new" || { rm -f "$unit.new"; exit 1; }; fi
mv -f "$unit.new" "$unit"

install -d -m 0755 /etc/kiln
if [ ! -e /etc/kiln/kiln.conf ]; then
    cat > /etc/kiln/kiln.conf.new <<'CONF'
# Kiln configuration: one `key = value` per line; keys are `kiln run`'s long flags.
# Reload after editing: systemctl reload kiln
# model = registry.example.com/fleet/detector:stable
# source = v4l2:/dev/video0:1280x720:yuyv
# metrics-addr = 127.0.0.1:9464
# push-url = http://pushgateway.example.com:9091
CONF
    mv /etc/kiln/kiln.conf.new /etc/kiln/kiln.conf
fi

systemctl daemon-reload
if [ "$start" = 1 ]; then
    systemctl enable --now kiln.service
    systemctl --no-pager status kiln.service || true
else
    echo "installed; start with: systemctl enable --now kiln"
fi
