#!/usr/bin/env bash
# Installs the Debian packages the project needs, only those missing, non-interactively.
set -euo pipefail
packages=(postgresql-15 postgresql-contrib libpq-dev libmicrohttpd-dev nginx postgresql-15-pgtap
          libtap-parser-sourcehandler-pgtap-perl wrk pkg-config python3-pip)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    printf '==> installing %s\n' "${missing[*]}" >&2
    [ "$(id -u)" = 0 ] || { echo "error: installing packages needs root (run as root or install: ${missing[*]})" >&2; exit 1; }
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian's nginx package may start a system-wide nginx on port 80; the project runs its own.
command -v swift >/dev/null || [ -x /opt/swift/usr/bin/swift ] || { echo "error: Swift toolchain not found (expected /opt/swift)" >&2; exit 1; }
