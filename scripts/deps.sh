#!/usr/bin/env bash
# Installs the Debian packages the project needs, only those missing, non-interactively.
# `deps.sh ha`: only what the HA profile adds (`make up-ha`, `make faults`): Patroni and etcd. `make test`
# does not need them.
set -euo pipefail
packages=(postgresql-15 postgresql-contrib libpq-dev libmicrohttpd-dev nginx postgresql-15-pgtap
          libtap-parser-sourcehandler-pgtap-perl wrk jq pkg-config curl python3-pip
          postgresql-plpython3-15 python3-cryptography)
profile=${1:-all}
[ "$profile" = ha ] && packages=(patroni etcd-server etcd-client jq curl iproute2 iptables util-linux)
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
[ "$profile" = ha ] && exit 0
# The OpenAPI validator the test command runs (PyPI).
python3 -c 'import openapi_spec_validator' 2>/dev/null \
    || python3 -m pip install --quiet openapi-spec-validator 2>/dev/null \
    || python3 -m pip install --quiet --break-system-packages openapi-spec-validator
# The hostile-input fuzzer the test command runs (scripts/schemathesis.sh), pinned (PyPI).
schemathesis_version=4.32.5
[ "$(python3 -c 'import schemathesis; print(schemathesis.SCHEMATHESIS_VERSION)' 2>/dev/null)" = "$schemathesis_version" ] \
    || python3 -m pip install --quiet "schemathesis==$schemathesis_version" 2>/dev/null \
    || python3 -m pip install --quiet --break-system-packages "schemathesis==$schemathesis_version"
# Debian's nginx package may start a system-wide nginx on port 80; the project runs its own.
command -v swift >/dev/null || [ -x /opt/swift/usr/bin/swift ] || { echo "error: Swift toolchain not found (expected /opt/swift)" >&2; exit 1; }
