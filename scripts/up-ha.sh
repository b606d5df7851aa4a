#!/usr/bin/env bash
# `make up-ha`: the HA profile. Like `make up`, but the database is 3 PostgreSQL members under Patroni over
# a 3-member etcd cluster (scripts/ha.sh), and the gateways name every member in db-uri with
# target_session_attrs=read-write, so that after a failover they reconnect to the new leader by themselves;
# their read pool (db-uri-read) prefers a replica. It runs beside `make up`'s single cluster (own ports:
# members 55451-55453, gateways 3011/3012 (admin 3111/3112), nginx 8090; pid files in .data/ha/run), and
# `make stop` stops both. Safe to run again.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
HA_DIR=${HA_DIR:-$DATA_DIR/ha}
bash scripts/deps.sh
bash scripts/deps.sh ha
if [ "$GATEWAY_BIN" = "$ROOT/.build/release/gateway" ]; then
    log "building the gateway (release)"
    swift build -c release --product gateway 2>&1 | grep -E 'error|warning: unre|Compiling|Build' | tail -3
fi
bash scripts/ha.sh start

# The same secrets as `make up` (the authenticator's password and the jwt secret), so tokens minted by
# `gateway token` work with either profile.
mkdir -p "$DATA_DIR/secrets"; chmod 700 "$DATA_DIR/secrets"
secret="$DATA_DIR/secrets/authenticator.password"
[ -s "$secret" ] || (umask 077; head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$secret")
[ -s "$DATA_DIR/secrets/jwt.secret" ] || (umask 077; head -c 48 /dev/urandom | base64 | tr -d '/+=\n' >"$DATA_DIR/secrets/jwt.secret")

# Migrations run against the leader, found through Patroni's REST API (ha.sh admin-uri); the replicas
# receive them by streaming replication.
admin=$(bash scripts/ha.sh admin-uri postgres)
psql -X -qAt "$admin" -c "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'" | grep -q 1 \
    || psql -X -q "$admin" -c "CREATE DATABASE $DB_NAME"
log "migrating database $DB_NAME on the leader ($(bash scripts/ha.sh leader))"
"$GATEWAY_BIN" migrate --db-uri "$(bash scripts/ha.sh admin-uri)" --migrations migrations --sql sql
psql -X -q -v ON_ERROR_STOP=1 -v pw="$(cat "$secret")" "$(bash scripts/ha.sh admin-uri)" <<<"ALTER ROLE authenticator PASSWORD :'pw';"

# connect_timeout and tcp_user_timeout bound how long a gateway waits on a member that is unreachable
# (a partition drops packets: no reset ever comes); keepalives notice an idle connection to it.
pw=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$(cat "$secret")")
tcp="connect_timeout=2&tcp_user_timeout=3000&keepalives_idle=2&keepalives_interval=1&keepalives_count=2"
export GATEWAYS=2 GATEWAY_BASE_PORT=${HA_GATEWAY_BASE_PORT:-3010} GATEWAY_ADMIN_BASE_PORT=${HA_GATEWAY_ADMIN_BASE_PORT:-3110} \
    GATEWAY_RUN_DIR="$HA_DIR/run" GATEWAY_CONF_DIR="$HA_DIR/conf" GATEWAY_LOG_DIR="$HA_DIR/log" \
    GATEWAY_DB_URI="$(bash scripts/ha.sh uri "authenticator:$pw")?target_session_attrs=read-write&$tcp" \
    GATEWAY_DB_URI_READ="$(bash scripts/ha.sh uri "authenticator:$pw")?target_session_attrs=prefer-standby&$tcp" \
    NGINX_PORT=${HA_NGINX_PORT:-8090} NGINX_PREFIX="$HA_DIR/nginx" NGINX_PID_FILE="$HA_DIR/run/nginx.pid" NGINX_LOG_DIR="$HA_DIR/log"
bash scripts/gateways.sh start
bash scripts/nginx.sh start
log "up (HA): nginx on http://127.0.0.1:$NGINX_PORT; members: bash scripts/ha.sh status"
