#!/bin/sh
# Runs `systemd-analyze verify` (and the offline `security` score) on the
# unit files without installing anything: it builds a throw-away root with
# systemd's own units and a stand-in /usr/local/bin/corral (verify checks that
# ExecStart= and ExecReload= are executable), and points --root at it.
# Needs systemd-analyze (Debian/Ubuntu: `apt-get install systemd`); it does
# not need systemd to be running. Exit status: that of `verify`, and non-zero
# also if verify printed any warning.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/usr/local/bin" "$root/etc/systemd/system" "$root/usr/lib/systemd"
cp -a /usr/lib/systemd/system "$root/usr/lib/systemd/"
cp /bin/true "$root/usr/local/bin/corral"
cp "$here/corral.service" "$here/corral.socket" "$root/etc/systemd/system/"
out=$(systemd-analyze verify --root="$root" \
    "$root/etc/systemd/system/corral.service" "$root/etc/systemd/system/corral.socket" 2>&1) || {
    printf '%s\n' "$out"; exit 1; }
if [ -n "$out" ]; then printf '%s\n' "$out"; exit 1; fi
echo "systemd-analyze verify: corral.service and corral.socket OK ($(systemd-analyze --version | head -n1))"
systemd-analyze security --offline=yes --root="$root" "$root/etc/systemd/system/corral.service" 2>/dev/null | tail -n1 || true
