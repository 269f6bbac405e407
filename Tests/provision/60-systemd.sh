# systemd service suite (SystemdServiceTests): Debian's real systemd booted as PID 1 of private
# namespaces by Tests/systemd/harness.sh (unshare/nsenter from util-linux, run as root), curl for
# /healthz inside the namespace's own loopback, and the toolchain's static Swift backtracer that
# install.sh installs beside kiln.
need_apt systemd util-linux coreutils curl

check_systemd_harness() {
    [ -x /lib/systemd/systemd ] || { echo "60-systemd.sh: /lib/systemd/systemd is missing after installing systemd" >&2; exit 1; }
    if [ "${CI:-}" = true ]; then
        [ "$(id -u)" = 0 ] || { echo "60-systemd.sh: SystemdServiceTests boot systemd in namespaces and need root" >&2; exit 1; }
        local swift backtracer
        swift=$(command -v swift) || { echo "60-systemd.sh: swift is not on PATH" >&2; exit 1; }
        backtracer="$(dirname "$(readlink -f "$swift")")/../libexec/swift/linux/swift-backtrace-static"
        [ -x "$backtracer" ] || { echo "60-systemd.sh: the toolchain has no $backtracer" >&2; exit 1; }
    fi
}
after_install check_systemd_harness
