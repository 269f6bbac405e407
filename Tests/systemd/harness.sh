#!/usr/bin/env bash
# A real systemd for SystemdServiceTests, on machines whose PID 1 is not systemd (CI containers).
#
#   harness.sh boot DIR         boots Debian's /lib/systemd/systemd as PID 1 of private pid, mount,
#                               network (loopback only), ipc, uts and cgroup namespaces; returns
#                               once it is running
#   harness.sh exec DIR CMD...  runs CMD inside (systemctl, journalctl, curl, install.sh)
#   harness.sh stop DIR         ends it and everything in it
#
# Inside, /etc and /usr/local are overlays over the host's (what an install writes stays in
# DIR/ov), /var is DIR/var, /run, /tmp and /dev are fresh (a checkout under /tmp stays visible at
# its own path), /sys and /proc/sys read-only, and a
# fresh cgroup2 is mounted; units that would touch the hardware or the host are masked and the
# default target starts only journald and sysinit. Needs root.
#
# Nothing started here keeps the caller's file descriptors: the booted systemd's output goes to
# DIR/logs/systemd.out with stdin from /dev/null and every other descriptor closed, so a caller
# reading this script's stdout to EOF is never held open by the namespace. Every step has a
# deadline: exec runs CMD under `timeout` (HARNESS_TIMEOUT seconds, default 60).
set -euo pipefail
cmd=${1:?usage: harness.sh boot|exec|stop DIR [CMD...]}
D=${2:?usage: harness.sh boot|exec|stop DIR [CMD...]}
shift 2

# The booted systemd's host PID.
init_pid() { cat "$D/systemd.pid"; }

# Runs a command inside the namespaces, bounded by HARNESS_TIMEOUT.
inside() {
    timeout --kill-after=5 "${HARNESS_TIMEOUT:-60}" nsenter -t "$(init_pid)" -m -p -n -i -u -C -- "$@"
}

case "$cmd" in
exec)
    inside "$@"
    ;;
stop)
    p=$(cat "$D/systemd.pid" 2>/dev/null || true)
    [ -n "$p" ] && kill -KILL "$p" 2>/dev/null || true
    u=$(cat "$D/unshare.pid" 2>/dev/null || true)
    for _ in $(seq 100); do { [ -n "$u" ] && kill -0 "$u" 2>/dev/null; } || break; sleep 0.1; done
    g=$(cat "$D/cgroup" 2>/dev/null || true)
    if [ -n "$g" ]; then
        for _ in $(seq 50); do
            find "$g" -depth -type d -exec rmdir {} + 2>/dev/null || true
            [ -d "$g" ] || break
            sleep 0.1
        done
    fi
    rm -f "$D/systemd.pid"
    ;;
boot)
    [ "$(id -u)" = 0 ] || { echo "harness.sh: booting systemd needs root" >&2; exit 1; }
    [ -x /lib/systemd/systemd ] || { echo "harness.sh: /lib/systemd/systemd missing; install Debian's systemd package" >&2; exit 1; }
    mkdir -p "$D"
    D=$(cd "$D" && pwd)
    mkdir -p "$D"/ov/etc-up "$D"/ov/etc-work "$D"/ov/ul-up "$D"/ov/ul-work "$D/var" "$D/logs" "$D/repo"
    # The checkout (install.sh, the debug-built kiln under .build) must stay reachable at its own
    # path inside, also when it lies under /tmp (a fresh clone there), which is replaced below.
    R=$(cd "$(dirname "$0")/../.." && pwd -P)
    units="$D/ov/etc-up/systemd/system"
    mkdir -p "$units"
    cat > "$units/harness.target" <<'TARGET'
[Unit]
Description=Kiln test harness: journald and sysinit only
Requires=sysinit.target
After=sysinit.target
AllowIsolate=yes
TARGET
    # Units that would touch the hardware or the host's state.
    for u in systemd-udevd.service systemd-udevd-control.socket systemd-udevd-kernel.socket \
        systemd-udev-trigger.service systemd-udev-settle.service systemd-modules-load.service \
        systemd-sysctl.service systemd-binfmt.service proc-sys-fs-binfmt_misc.automount \
        proc-sys-fs-binfmt_misc.mount sys-kernel-config.mount sys-kernel-debug.mount \
        sys-kernel-tracing.mount sys-fs-fuse-connections.mount dev-hugepages.mount dev-mqueue.mount \
        kmod-static-nodes.service systemd-remount-fs.service systemd-fsck-root.service \
        systemd-random-seed.service systemd-timesyncd.service systemd-firstboot.service \
        systemd-hwdb-update.service systemd-repart.service systemd-pstore.service \
        systemd-journald-audit.socket systemd-logind.service systemd-machine-id-commit.service \
        systemd-update-utmp.service systemd-pcrphase.service systemd-pcrphase-sysinit.service \
        systemd-tmpfiles-setup-dev.service ldconfig.service getty.target getty@.service \
        serial-getty@.service console-getty.service systemd-ask-password-console.path \
        systemd-ask-password-wall.path; do
        ln -sf /dev/null "$units/$u"
    done
    # PID 1's preparation inside the new namespaces: private mounts, then exec systemd.
    cat > "$D/init.sh" <<INIT
#!/bin/bash
set -eu
# DIR may lie under /tmp, which is replaced below: reach it through /mnt (the checkout at /mnt/repo).
mount --bind $R $D/repo
mount --rbind $D /mnt
S=/mnt
mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys
mount -t overlay overlay -o lowerdir=/etc,upperdir=\$S/ov/etc-up,workdir=\$S/ov/etc-work /etc
mount -t overlay overlay -o lowerdir=/usr/local,upperdir=\$S/ov/ul-up,workdir=\$S/ov/ul-work /usr/local
mount --bind \$S/var /var
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp
case $R in /tmp/*) mkdir -p $R && mount --bind /mnt/repo $R ;; esac
mount -t tmpfs -o mode=755,nosuid,nodev tmpfs /run
# A fresh /dev with the basic nodes bound from the host's.
mkdir /run/host-dev && mount --bind /dev /run/host-dev
mount -t tmpfs -o mode=755,nosuid tmpfs /dev
for n in null zero full random urandom tty; do touch /dev/\$n; mount --bind /run/host-dev/\$n /dev/\$n; done
: > \$S/logs/console.log; touch /dev/console; mount --bind \$S/logs/console.log /dev/console
umount /run/host-dev && rmdir /run/host-dev
mkdir -p /dev/pts /dev/shm /dev/mqueue
mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts /dev/pts && ln -s pts/ptmx /dev/ptmx
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm
ln -s /proc/self/fd /dev/fd; ln -s /proc/self/fd/0 /dev/stdin; ln -s /proc/self/fd/1 /dev/stdout; ln -s /proc/self/fd/2 /dev/stderr
umount -R /sys/fs/cgroup 2>/dev/null || true
mount --bind /sys /sys && mount -o remount,bind,ro,nosuid,nodev,noexec /sys
mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 /sys/fs/cgroup
hostname kiln-harness
export container=kiln-harness
exec /lib/systemd/systemd --system --unit=harness.target --log-level=info
INIT
    chmod +x "$D/init.sh"
    # A cgroup of its own on the host, so stop can remove everything it created.
    cg=/sys/fs/cgroup/unified
    [ -d "$cg" ] || cg=/sys/fs/cgroup
    G="$cg/kiln-harness-$$"
    mkdir -p "$G"
    echo "$G" > "$D/cgroup"
    rm -f "$D/unshare.pid" "$D/systemd.pid"
    # Detached: new session, stdin /dev/null, output to a file, every inherited descriptor above 2 closed.
    setsid bash -c '
        for f in /proc/$$/fd/*; do n=${f##*/}; [ "$n" -gt 2 ] 2>/dev/null && eval "exec $n>&-"; done
        echo $$ > "$1/unshare.pid"
        echo $$ > "$2/cgroup.procs"
        exec unshare --pid --fork --mount --propagation private --mount-proc --uts --net --ipc --cgroup "$1/init.sh"
    ' harness "$D" "$G" </dev/null >"$D/logs/systemd.out" 2>&1 &
    C=""
    for _ in $(seq 100); do
        sleep 0.1
        U=$(cat "$D/unshare.pid" 2>/dev/null || true)
        [ -n "$U" ] && C=$(cat "/proc/$U/task/$U/children" 2>/dev/null || true)
        [ -n "$C" ] && break
    done
    [ -n "$C" ] || { echo "harness.sh: systemd did not start; see $D/logs/systemd.out" >&2; exit 1; }
    echo "${C%% *}" > "$D/systemd.pid"
    state=""
    for _ in $(seq 100); do
        state=$(HARNESS_TIMEOUT=5 inside systemctl is-system-running 2>/dev/null || true)
        case "$state" in running|degraded) break ;; esac
        sleep 0.2
    done
    case "$state" in
        running|degraded) echo "systemd booted (host pid $(init_pid)): $state" ;;
        *) echo "harness.sh: systemd did not reach running (state '$state'); see $D/logs/systemd.out" >&2; exit 1 ;;
    esac
    ;;
*)
    echo "harness.sh: unknown command $cmd; use boot, exec or stop" >&2
    exit 2
    ;;
esac
