#!/usr/bin/env bash
# Stops the HA profile of `make up-ha` (part of `make stop`): its nginx, its gateways, then the Patroni
# members (each stops its PostgreSQL) and etcd; by pid file only, never by name; keeps the data.
set -euo pipefail
source "$(dirname "$0")/env.sh"
HA_DIR=${HA_DIR:-$DATA_DIR/ha}
[ -d "$HA_DIR/run" ] || exit 0
NGINX_PREFIX="$HA_DIR/nginx" NGINX_PID_FILE="$HA_DIR/run/nginx.pid" NGINX_LOG_DIR="$HA_DIR/log" bash "$ROOT/scripts/nginx.sh" stop
GATEWAY_RUN_DIR="$HA_DIR/run" bash "$ROOT/scripts/gateways.sh" stop
HA_DIR="$HA_DIR" bash "$ROOT/scripts/ha.sh" stop
