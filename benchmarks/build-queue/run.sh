#!/usr/bin/env bash
# Build queue throughput: claim + complete per second, straight in SQL with pgbench (the ceiling for
# the same work through the gateway), against a ceiling of the same two round trips doing nothing.
# Also list_workspaces latency with a million workspaces in the table (issue 8: under 100 ms).
#
# usage: benchmarks/build-queue/run.sh [seconds per run, default 20] [clients, default 8]
#   BUILD_BENCH_DB  scratch database to (re)create, default build_bench (dropped and recreated!)
#   BUILD_BENCH_JOBS  builds queued before the run, default 400000 (must exceed what the run completes)
# Prints a markdown summary and saves it (with the raw pgbench output) under benchmarks/results/.
set -euo pipefail
source "$(dirname "$0")/../../scripts/env.sh"
cd "$ROOT"
DURATION=${1:-20}
CLIENTS=${2:-8}
DB=${BUILD_BENCH_DB:-build_bench}
JOBS=${BUILD_BENCH_JOBS:-400000}
HERE=benchmarks/build-queue
URI=$(admin_uri "$DB")
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=benchmarks/results/build-queue-$STAMP.md
RAW=benchmarks/results/build-queue-$STAMP.txt
mkdir -p benchmarks/results
THREADS=$(( CLIENTS < $(nproc) ? CLIENTS : $(nproc) ))

log "recreating database $DB and migrating it (migrations one transaction each, then sql/)"
psql -X -q -v ON_ERROR_STOP=1 "$(admin_uri postgres)" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
for f in migrations/*.sql; do psql -X -q -v ON_ERROR_STOP=1 "$URI" -1 -f "$f" >/dev/null; done
psql -X -q -v ON_ERROR_STOP=1 "$URI" -1 $(for f in sql/*.sql; do printf -- '-f %s ' "$f"; done) >/dev/null

seed_builds() {
    psql -X -q -v ON_ERROR_STOP=1 "$URI" <<SQL
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

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
log "seeding $JOBS due builds"
seed_builds
log "ceiling: two trivial round trips per job, $CLIENTS clients, ${DURATION}s"
CEIL=$(pgb ceiling "$HERE/ceiling.sql")
log "claim + complete, $CLIENTS clients, ${DURATION}s"
TPS=$(pgb claim_complete "$HERE/claim_complete.sql")
LAT=$(latency)
log "claim + complete with synchronous_commit=off (no WAL flush wait at commit), $CLIENTS clients, ${DURATION}s"
TPS_ASYNC=$(PGB_OPTIONS="-c synchronous_commit=off" pgb claim_complete_async "$HERE/claim_complete.sql")
LAT_ASYNC=$(latency)
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
    echo "$(nproc) cores; PostgreSQL $(psql -X -At "$URI" -c 'SHOW server_version'); $JOBS due builds queued, 4 priorities."
    echo "A job = api.claim_build + api.complete_build (two transactions, as a worker does them; the completion"
    echo "writes the e-mail to the outbox and NOTIFYs). The ceiling runs the same two round trips doing nothing."
    echo
    echo "| run | jobs/s | avg latency per job ms | x ceiling |"
    echo "|---|---:|---:|---:|"
    echo "| claim + complete | $TPS | $LAT | $(python3 -c "print(f'{$TPS/$CEIL:.2f}')") |"
    echo "| claim + complete, synchronous_commit=off | $TPS_ASYNC | $LAT_ASYNC | $(python3 -c "print(f'{$TPS_ASYNC/$CEIL:.2f}')") |"
    echo "| ceiling (2 x SELECT 1) | $CEIL | | 1.00 |"
    echo
    echo "After the runs: $DONE. Load average before: $LOAD_BEFORE; after: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "(the machine is shared: compare the x ceiling column across runs, not the absolute figures)."
    echo
    echo "list_workspaces with 1,000,000 workspaces (100,000 users, 10 each), $CLIENTS clients: $LIST_TPS lists/s,"
    echo "average $LIST_LAT ms per list transaction under load; one client alone: $LIST_P ms average."
} | tee "$OUT"
log "saved $OUT and $RAW"
