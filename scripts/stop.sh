#!/usr/bin/env bash
# `make stop`: stops every process the project started, by pid file (never by name); keeps the data.
set -euo pipefail
source "$(dirname "$0")/env.sh"
if [ -x "$ROOT/scripts/nginx.sh" ]; then bash "$ROOT/scripts/nginx.sh" stop; fi
bash "$ROOT/scripts/gateways.sh" stop
bash "$ROOT/scripts/db.sh" stop
# The HA profile (`make up-ha`), when it was started.
bash "$ROOT/scripts/stop-ha.sh"
