#!/usr/bin/env bash
# `make up`: installs what is missing, builds, creates/starts the local cluster, migrates, and starts
# the gateways (and nginx in front of them when nginx/ is configured). Safe to run again.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
bash scripts/deps.sh
log "building the gateway (release)"
swift build -c release --product gateway 2>&1 | grep -E 'error|warning: unre|Compiling|Build' | tail -3
log "building the workers (release, workers/: build-worker, mailer, host-agent)"
swift build -c release --package-path workers 2>&1 | grep -E 'error|warning: unre|Compiling|Build' | tail -3
bash scripts/db.sh start

# The authenticator's password: generated once, kept in .data/secrets, never committed. Over the unix
# socket of .data/run the local cluster trusts local users; TCP (127.0.0.1) requires this password.
mkdir -p "$DATA_DIR/secrets"; chmod 700 "$DATA_DIR/secrets"
secret="$DATA_DIR/secrets/authenticator.password"
[ -s "$secret" ] || (umask 077; head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$secret")
# The gateways' jwt-secret (HS256, >= 32 characters); `gateway token` reads it to mint local tokens.
[ -s "$DATA_DIR/secrets/jwt.secret" ] || (umask 077; head -c 48 /dev/urandom | base64 | tr -d '/+=\n' >"$DATA_DIR/secrets/jwt.secret")

log "migrating database $DB_NAME"
bash scripts/migrate.sh "$DB_NAME" release
psql -X -q -v ON_ERROR_STOP=1 -v pw="$(cat "$secret")" "$(admin_uri)" <<<"ALTER ROLE authenticator PASSWORD :'pw';"

bash scripts/gateways.sh start
if [ -x scripts/nginx.sh ]; then bash scripts/nginx.sh start; fi
log "up: PostgreSQL on 127.0.0.1:$DB_PORT (socket $SOCKET_DIR); psql: make psql"
