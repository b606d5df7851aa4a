#!/usr/bin/env bash
# Build queue throughput: claim + complete per second, straight in SQL with pgbench (the ceiling for
# the same work through the gateway), one job at a time and in batches (claim_builds + complete_builds),
# against a ceiling of the same two round trips doing nothing; then the same jobs through the gateway
# (HTTP, the bundled loader's builds scenarios: claim, then complete with the lease token the answer
# carried, on each connection). Also list_workspaces latency with a million workspaces in the table (the product asks under 100 ms).
#
# usage: benchmarks/build-queue/run.sh [seconds per run, default 20] [clients, default 8]
#   BUILD_BENCH_DB  scratch database to (re)create, default build_bench (dropped and recreated!)
#   BUILD_BENCH_JOBS  builds queued before each pair of runs (pgbench, then the gateway), default 250000
#   BUILD_BENCH_BATCHES  batch sizes to run, default "10 50"
# Builds the release gateway and the loader when they are missing or older than their sources.
# Prints a markdown summary and saves it under benchmarks/results/ (the raw pgbench output under .data/bench/).
set -euo pipefail
source "$(dirname "$0")/../../scripts/env.sh"
cd "$ROOT"
DURATION=${1:-20}
CLIENTS=${2:-8}
DB=${BUILD_BENCH_DB:-build_bench}
JOBS=${BUILD_BENCH_JOBS:-250000}
BATCHES=${BUILD_BENCH_BATCHES:-10 50}
HERE=benchmarks/build-queue
URI=$(admin_uri "$DB")
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=benchmarks/results/build-queue-$STAMP.md
RAW=.data/bench/build-queue-$STAMP.txt   # raw pgbench output: a record of the run, not of the project
mkdir -p benchmarks/results .data/bench
THREADS=$(( CLIENTS < $(nproc) ? CLIENTS : $(nproc) ))

log "recreating database $DB and migrating it (migrations one transaction each, then sql/)"
psql -X -q -v ON_ERROR_STOP=1 "$(admin_uri postgres)" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
for f in migrations/*.sql; do psql -X -q -v ON_ERROR_STOP=1 "$URI" -1 -f "$f" >/dev/null 2>&1 || die "migration $f failed"; done
psql -X -q -v ON_ERROR_STOP=1 "$URI" -1 $(for f in sql/*.sql; do printf -- '-f %s ' "$f"; done) >/dev/null 2>"$RAW.notices" || { cat "$RAW.notices" >&2; die "sql/ failed"; }; rm -f "$RAW.notices"

seed_builds() {
    psql -X -q -v ON_ERROR_STOP=1 "$URI" >/dev/null <<SQL
BEGIN;
SELECT set_config('request.jwt.claims', '{"role":"app_user","sub":"bench"}', true);
SET LOCAL ROLE app_user;
SELECT api.schedule_image_build('bench-image', 'bench-project', 1);
COMMIT;
DELETE FROM workspaces.notifications;
DELETE FROM workspaces.builds;
INSERT INTO workspaces.builds (image_id, change_number, requested_by, priority, run_at)
SELECT i.id, 1, 'bench', g % 4, now() - interval '1 minute' FROM workspaces.images i, generate_series(1, $JOBS) g
WHERE i.name = 'bench-image';
VACUUM ANALYZE workspaces.builds;
SQL
}

pgb() { # label, script, extra args...
    local label=$1 script=$2; shift 2
    echo "### $label" >>"$RAW"
    # role=worker: the calls run as the role the gateway switches to for a worker's token.
    PGOPTIONS="-c role=${PGB_ROLE:-worker} ${PGB_OPTIONS:-}" pgbench -n -M prepared -c "$CLIENTS" -j "$THREADS" -T "$DURATION" -f "$script" "$@" "$URI" \
        >>"$RAW" 2>&1 || { tail -20 "$RAW" >&2; die "pgbench $label failed"; }
    grep -E '^tps' "$RAW" | tail -1 | sed -E 's/^tps = ([0-9.]+).*/\1/'
}
latency() { grep -E '^latency average' "$RAW" | tail -1 | sed -E 's/.*= ([0-9.]+) ms/\1/'; }

succeeded() { psql -X -At "$URI" -c "SELECT count(*) FROM workspaces.builds WHERE status = 'SUCCEEDED'"; }
# Jobs per second from the database (builds that reached SUCCEEDED during the run), not from pgbench's
# or the loader's count of calls: a batch completes many jobs per call.
jobs_per_second() { python3 -c "print(round(($2 - $1) / $DURATION))"; }
ratio() { python3 -c "print(f'{$1 / max($2, 1):.2f}')"; }

# --- the gateway: a release build on a free port, logged in as authenticator, like make up's -------
log "building the release gateway and the loader"
swift build -c release --product gateway 2>&1 | grep -E 'error|Build' | tail -3
swift build -c release --package-path benchmarks/loader 2>&1 | grep -E 'error|Build' | tail -3
GATEWAY=$ROOT/.build/release/gateway
LOADER=$ROOT/benchmarks/loader/.build/release/loader
WORK=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
GW_PORT=$(free_port); GW_ADMIN=$(free_port)
python3 -c 'import secrets; print(secrets.token_urlsafe(48))' >"$WORK/jwt.secret"
cat >"$WORK/gateway.conf" <<CONF
db-uri = "postgresql://authenticator@/$DB?host=$SOCKET_DIR&port=$DB_PORT&application_name=bench-gateway"
db-schemas = "api"
db-anon-role = "web_anon"
db-pool = 16
jwt-secret = "@$WORK/jwt.secret"
server-host = "127.0.0.1"
server-port = $GW_PORT
admin-server-port = $GW_ADMIN
log-level = "error"
CONF
"$GATEWAY" serve "$WORK/gateway.conf" >"$WORK/gateway.log" 2>&1 &
GW_PID=$!
trap 'kill $GW_PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do curl -fsS -o /dev/null "http://127.0.0.1:$GW_ADMIN/ready" 2>/dev/null && break; sleep 0.1; done
curl -fsS -o /dev/null "http://127.0.0.1:$GW_ADMIN/ready" || { cat "$WORK/gateway.log" >&2; die "the gateway did not become ready"; }
"$GATEWAY" token --role worker --expires 1h --secret-file "$WORK/jwt.secret" >"$WORK/worker.token"

loader_jobs() { # label, loader args...: jobs/s from the database; the loader's summary into $RAW
    local label=$1; shift
    echo "### $label" >>"$RAW"
    local before; before=$(succeeded)
    "$LOADER" --url "http://127.0.0.1:$GW_PORT" --worker-token-file "$WORK/worker.token" -c "$CLIENTS" -t "$THREADS" \
        -d "$DURATION" "$@" >>"$RAW" 2>&1 || { tail -20 "$RAW" >&2; die "loader $label failed"; }
    jobs_per_second "$before" "$(succeeded)"
}
# A fresh queue before each pair of runs, flushed to disk, so that neither run pays for the other's
# dead rows, vacuum or checkpoint.
fresh_queue() {
    seed_builds
    psql -X -q "$URI" -c "CHECKPOINT"
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
log "seeding $JOBS due builds; ceiling: two trivial round trips per job, $CLIENTS clients, ${DURATION}s"
fresh_queue
CEIL=$(printf "%.0f" "$(pgb ceiling "$HERE/ceiling.sql")")

ROWS="" GW_ROWS=""
for batch in 1 $BATCHES; do
    fresh_queue
    if [ "$batch" = 1 ]; then
        name="one at a time: claim_build + complete_build" short="one at a time" commits=2
        log "claim_build + complete_build: pgbench, then the gateway, $CLIENTS clients each, ${DURATION}s"
        BEFORE=$(succeeded)
        pgb claim_complete "$HERE/claim_complete.sql" >/dev/null
        SQL_JOBS=$(jobs_per_second "$BEFORE" "$(succeeded)")
        LAT="$(latency)"
        GW_JOBS=$(loader_jobs gateway_one --scenario builds)
    else
        name="batches of $batch: claim_builds + complete_builds" short="batches of $batch" commits="2/$batch"
        log "claim_builds($batch) + complete_builds: pgbench, then the gateway, $CLIENTS clients each, ${DURATION}s"
        BEFORE=$(succeeded)
        pgb "claim_complete_batch_$batch" "$HERE/claim_complete_batch.sql" -D batch="$batch" >/dev/null
        SQL_JOBS=$(jobs_per_second "$BEFORE" "$(succeeded)")
        LAT="$(latency) per batch"
        GW_JOBS=$(loader_jobs "gateway_batch_$batch" --scenario builds-batch --batch "$batch")
    fi
    ROWS+="| $name | $SQL_JOBS | $(ratio "$SQL_JOBS" "$CEIL") | $LAT | $commits |"$'\n'
    GW_ROWS+="| $short | $SQL_JOBS | $GW_JOBS | $(ratio "$GW_JOBS" "$SQL_JOBS") |"$'\n'
done
kill $GW_PID 2>/dev/null || true
DONE=$(psql -X -At "$URI" -c "SELECT count(*) FILTER (WHERE status = 'SUCCEEDED') || ' succeeded, ' || count(*) FILTER (WHERE status = 'IN_PROGRESS') || ' in progress, ' || (SELECT count(*) FROM workspaces.notifications) || ' e-mails' FROM workspaces.builds")

log "seeding 1,000,000 workspaces for 100,000 users"
psql -X -q -v ON_ERROR_STOP=1 "$URI" <<'SQL'
INSERT INTO workspaces.hosts (name, disk_capacity, disk_used) VALUES ('bench-host', 2000000000, 10000000);
INSERT INTO workspaces.workspaces (owner, project_id, project_name, image_id, arch, host_id, host_name, disk_gb, state, hostname, ip)
SELECT 'u' || (g % 100000 + 1), p.id, p.name, i.id, 'x86_64', h.id, h.name, 10, 'READY', 'ws' || g, '10.0.0.1'
FROM workspaces.projects p, workspaces.images i, workspaces.hosts h, generate_series(1, 1000000) g
WHERE p.name = 'bench-project' AND i.name = 'bench-image' AND h.name = 'bench-host';
VACUUM ANALYZE workspaces.workspaces;
SQL
log "list_workspaces, $CLIENTS clients, ${DURATION}s"
LIST_TPS=$(PGB_ROLE=postgres pgb list_workspaces "$HERE/list_workspaces.sql" -D users=100000 -r)
LIST_LAT=$(latency)
LIST_P=$(pgbench -n -M prepared -c 1 -j 1 -t 2000 -f "$HERE/list_workspaces.sql" -D users=100000 "$URI" 2>&1 \
         | grep -E '^latency average' | sed -E 's/.*= ([0-9.]+) ms/\1/')

{
    echo "# Build queue, $(date -u +%Y-%m-%dT%H:%MZ), ${DURATION}s per run, $CLIENTS clients"
    echo
    echo "$(nproc) cores; PostgreSQL $(psql -X -At "$URI" -c 'SHOW server_version'); $JOBS due builds queued (4 priorities) afresh before each pair of runs."
    echo "A job = claim + complete (the completion writes the e-mail to the outbox). One at a time: api.claim_build"
    echo "then api.complete_build, two transactions as a worker does them; batched: api.claim_builds(n) then"
    echo "api.complete_builds with all n results (each fenced on its own). The ceiling runs two trivial round trips."
    echo "Durable commits throughout (synchronous_commit = on)."
    echo
    echo "| run | jobs/s | x ceiling | avg latency ms | commits per job |"
    echo "|---|---:|---:|---:|---:|"
    printf '%s' "$ROWS"
    echo "| ceiling: the same two round trips doing nothing | $CEIL | 1.00 | | |"
    echo
    echo "Through the gateway (HTTP POST /rpc/..., one release gateway, db-pool 16, the bundled loader with"
    echo "$CLIENTS keep-alive connections, each claiming then completing with the lease token it was given):"
    echo
    echo "| jobs/s | pgbench (SQL) | gateway | gateway / SQL |"
    echo "|---|---:|---:|---:|"
    printf '%s' "$GW_ROWS"
    echo
    echo "After the last pair: $DONE. Load average before: $LOAD_BEFORE; after: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "(the machine is shared: compare the x ceiling column across runs, not the absolute figures)."
    echo
    echo "list_workspaces with 1,000,000 workspaces (100,000 users, 10 each), $CLIENTS clients: $LIST_TPS lists/s,"
    echo "average $LIST_LAT ms per list transaction under load; one client alone: $LIST_P ms average."
} | tee "$OUT"
log "saved $OUT and $RAW"
