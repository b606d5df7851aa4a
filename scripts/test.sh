#!/usr/bin/env bash
# `make test`: every test, on a fresh test database of the project's own PostgreSQL.
#   1. installs missing packages, builds both packages (debug, with tests): the gateway's (the root)
#      and the workers' (workers/, which uses the root's PGClient and GatewayTesting)
#   2. starts the local cluster if it is not running (and stops it again afterwards if it started it)
#   3. recreates database platform_test and migrates it with `gateway migrate` (twice: the re-run is a no-op)
#   4. installs pgTAP and the pgTAP files' helpers (Tests/pgtap/lib/helpers.sql), runs pg_prove over Tests/pgtap/*.sql
#   5. runs swift test (unit, migration-tool, gateway integration and concurrency tests), then the
#      workers' swift test (their executables against a real gateway and PostgreSQL), with an
#      asynchronous streaming standby of the cluster on a free port for the read-scaling tests
#      (scripts/standby.sh; PLATFORM_TEST_STANDBY_URI; destroyed right after, and on any exit)
#   6. runs schemathesis against a debug gateway, once per role (scripts/schemathesis.sh)
#   The container tests (workers/: HostAgentContainerTests) run against podman's Docker Engine API, which
#   scripts/podman.sh installs, configures and starts (PLATFORM_TEST_DOCKER_SOCKET) and stops by pid
#   afterwards; where podman cannot be installed or started they are skipped, saying so.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
bash scripts/deps.sh

log "building (debug, with tests)"
mkdir -p "$LOG_DIR"
for package in . workers; do
    if ! swift build --build-tests --package-path "$package" >"$LOG_DIR/build.log" 2>&1; then
        grep -E 'error' "$LOG_DIR/build.log" | head -40 >&2; die "build of $package failed (full log: $LOG_DIR/build.log)"
    fi
done

started_db=false
if ! bash scripts/db.sh status >/dev/null 2>&1; then started_db=true; fi
bash scripts/db.sh start
cleanup() { if $started_db; then bash scripts/db.sh stop; fi; }
trap cleanup EXIT
# Read scaling: a throw-away standby of this cluster (name, port and folder unique to this run).
TEST_STANDBY_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
test_standby() { STANDBY_DIR="$DATA_DIR/standby-test-$TEST_STANDBY_PORT" STANDBY_PORT="$TEST_STANDBY_PORT" \
    STANDBY_NAME="test_standby_$TEST_STANDBY_PORT" SYNC=off bash scripts/standby.sh "$@"; }
started_podman=false
stop_podman() { if $started_podman; then bash scripts/podman.sh stop || true; started_podman=false; fi; }
trap 'test_standby destroy >/dev/null 2>&1 || true; stop_podman; cleanup' EXIT

log "recreating database $TEST_DB_NAME"
psql -X -q -v ON_ERROR_STOP=1 "$(admin_uri postgres)" \
    -c "DROP DATABASE IF EXISTS $TEST_DB_NAME WITH (FORCE)" -c "CREATE DATABASE $TEST_DB_NAME"
bash scripts/migrate.sh "$TEST_DB_NAME" debug
bash scripts/migrate.sh "$TEST_DB_NAME" debug   # idempotent re-run: applies nothing, re-applies sql/
psql -X -q -v ON_ERROR_STOP=1 "$(admin_uri "$TEST_DB_NAME")" -c "CREATE EXTENSION IF NOT EXISTS pgtap"
psql -X -q -v ON_ERROR_STOP=1 "$(admin_uri "$TEST_DB_NAME")" -f Tests/pgtap/lib/helpers.sql   # the files' shared helpers

failed=0
log "pgTAP: pg_prove Tests/pgtap/*.sql"
pg_prove -h "$SOCKET_DIR" -p "$DB_PORT" -U postgres -d "$TEST_DB_NAME" Tests/pgtap/*.sql || failed=1

log "layers: GatewayCore's folders depend only downwards; libpq only through PGConnection (PGClient), libmicrohttpd only through Server/MHDDaemon"
python3 scripts/layers.py || failed=1

log "OpenAPI: gateway openapi | openapi-spec-validator"
if "$ROOT/.build/debug/gateway" openapi --db-uri "$(admin_uri "$TEST_DB_NAME")" >"$LOG_DIR/openapi.json" \
    && python3 -m openapi_spec_validator "$LOG_DIR/openapi.json"; then
    functions=$(psql -X -qtA "$(admin_uri "$TEST_DB_NAME")" -c "SELECT count(DISTINCT proname) FROM pg_proc WHERE pronamespace = 'api'::regnamespace")
    paths=$(python3 -c 'import json,sys; print(len([p for p in json.load(open(sys.argv[1]))["paths"] if p.startswith("/rpc/")]))' "$LOG_DIR/openapi.json")
    if [ "$functions" = "$paths" ]; then echo "openapi: ok - $paths functions of api documented"; else echo "openapi: not ok - $paths paths for $functions functions"; failed=1; fi
else
    failed=1
fi

log "standby for the read-scaling tests (scripts/standby.sh, port $TEST_STANDBY_PORT)"
# A slot whose standby folder is gone (a run killed before its cleanup) would keep WAL forever: drop it.
for slot in $(psql -X -qtA "$(admin_uri postgres)" -c "SELECT slot_name FROM pg_replication_slots
                  WHERE slot_name LIKE 'test\_standby\_%' AND NOT active" || true); do
    [ -d "$DATA_DIR/standby-test-${slot#test_standby_}" ] \
        || psql -X -qtA "$(admin_uri postgres)" -c "SELECT pg_drop_replication_slot('$slot')" >/dev/null || true
done
if test_standby create; then
    export PLATFORM_TEST_STANDBY_URI="postgresql://postgres@/$TEST_DB_NAME?host=$SOCKET_DIR&port=$TEST_STANDBY_PORT"
else
    failed=1   # GatewayReadScalingTests then fail, saying PLATFORM_TEST_STANDBY_URI is missing
fi

log "container engine for the workspace tests (scripts/podman.sh: podman's Docker Engine API)"
bash scripts/podman.sh status >/dev/null 2>&1 || started_podman=true   # stopped afterwards only if started here
if bash scripts/podman.sh start; then
    export PLATFORM_TEST_DOCKER_SOCKET="$(bash scripts/podman.sh socket)"
else
    log "podman could not be installed or started: the container tests (workers: HostAgentContainerTests) will be SKIPPED"
fi

log "swift test"
export PLATFORM_TEST_DB_URI="$(admin_uri "$TEST_DB_NAME")" PLATFORM_DB_PORT="$DB_PORT" GATEWAY_BINARY="$ROOT/.build/debug/gateway"
swift test 2>&1 | tee "$LOG_DIR/swift-test.log" || failed=1
log "swift test --package-path workers"
swift test --package-path workers 2>&1 | tee "$LOG_DIR/swift-test-workers.log" || failed=1
test_standby destroy || true
stop_podman

# Last: it writes random data into the test database, which the tests above must not see.
log "schemathesis: hostile input from the OpenAPI document, per role"
GATEWAY_BIN="$ROOT/.build/debug/gateway" bash scripts/schemathesis.sh "$TEST_DB_NAME" || failed=1

if [ "$failed" != 0 ]; then log "tests FAILED"; exit 1; fi
log "all tests passed"
