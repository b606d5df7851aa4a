#!/usr/bin/env bash
# The three ways to allocate a VM that the product's design weighs, measured: pessimistic FOR UPDATE, optimistic version check
# with retry, and FOR UPDATE SKIP LOCKED (what api.allocate_vm does), each under low contention (many
# servers, few clients) and high contention (few servers, many clients), with pgbench.
#
# usage: benchmarks/vm-allocation/run.sh [seconds per run, default 20]
#   VMS_BENCH_DB    scratch database to (re)create, default vms_bench (dropped and recreated!)
# Prints a markdown table and saves it (with the raw pgbench output) under benchmarks/results/.
set -euo pipefail
source "$(dirname "$0")/../../scripts/env.sh"
cd "$ROOT"
DURATION=${1:-20}
DB=${VMS_BENCH_DB:-vms_bench}
HERE=benchmarks/vm-allocation
URI=$(admin_uri "$DB")
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=benchmarks/results/vm-allocation-$STAMP.md
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
SERVER_RAM=131072   # MB per server
SERVER_CPU=64
# scenario name, servers, clients. "ceiling" is one client alone (no contention at all): the last
# column divides each row's allocations/s by it, since these machines are shared and noisy.
SCENARIOS=("ceiling 256 1" "low 256 4" "high 4 32")
STRATEGIES=(pessimistic optimistic skip_locked)

log "recreating database $DB and migrating it (migrations one transaction each, then sql/)"
psql -X -q -v ON_ERROR_STOP=1 "$(admin_uri postgres)" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
for f in migrations/*.sql; do psql -X -q -v ON_ERROR_STOP=1 "$URI" -1 -f "$f" >/dev/null; done
psql -X -q -v ON_ERROR_STOP=1 "$URI" -1 $(for f in sql/*.sql; do printf -- '-f %s ' "$f"; done) >/dev/null
psql -X -q -v ON_ERROR_STOP=1 "$URI" -1 -f "$HERE/strategies.sql" >/dev/null

{
    echo "# VM allocation strategies, $(date -u +%Y-%m-%dT%H:%MZ), ${DURATION}s per run"
    echo
    echo "$(nproc) cores; PostgreSQL $(psql -X -At "$URI" -c 'SHOW server_version'); servers of $SERVER_RAM MB, $SERVER_CPU CPUs, a /24 each;"
    echo "each client holds up to 4 VMs of 1-4 GB and 1-2 CPUs (releases its oldest, then allocates)."
    echo
    echo "| contention | servers | clients | strategy | allocations/s | cycle p50 ms | cycle p99 ms | in-function p99 ms | retries | failures | x ceiling |"
    echo "|---|---:|---:|---|---:|---:|---:|---:|---:|---|---:|"
} >"$WORK/table.md"

for scenario in "${SCENARIOS[@]}"; do
    read -r name servers clients <<<"$scenario"
    strategies=("${STRATEGIES[@]}")
    [ "$name" = ceiling ] && strategies=(skip_locked)
    for strategy in "${strategies[@]}"; do
        log "$name contention: $servers servers, $clients clients, $strategy, ${DURATION}s"
        psql -X -q -v ON_ERROR_STOP=1 "$URI" -c "SELECT vms_bench.reset_fleet($servers, $SERVER_RAM, $SERVER_CPU)" >/dev/null
        sed "s/STRATEGY/$strategy/" "$HERE/allocate.pgbench" >"$WORK/$strategy.pgbench"
        mkdir -p "$WORK/$name-$strategy"
        (cd "$WORK/$name-$strategy" && pgbench -n -r -T "$DURATION" -c "$clients" -j 2 -f "$WORK/$strategy.pgbench" \
            --log --log-prefix=tx "$URI") >"$WORK/$name-$strategy.out" 2>&1 \
            || { cat "$WORK/$name-$strategy.out" >&2; die "pgbench failed"; }
        # Per-transaction log: client_id transaction_no time_us script_no epoch epoch_us. Each client's
        # first transaction is left out: it pays the one-time import of Python's cryptography (~150 ms).
        read -r p50 p99 aborted < <(cat "$WORK/$name-$strategy"/tx.* | python3 -c '
import sys
t, failed = [], 0
for line in sys.stdin:
    f = line.split()
    if f[2] in ("failed", "skipped"):
        failed += 1
    elif f[1] != "0":
        t.append(int(f[2]) / 1000)
t.sort()
q = lambda p: t[min(len(t) - 1, int(p * len(t)))] if t else 0
print("%.2f %.2f %d" % (q(0.50), q(0.99), failed))')
        # Outcomes recorded by the functions themselves, and the accounting invariant after the run.
        read -r ok retries fn_p99 < <(psql -X -At -F ' ' "$URI" -c "
            SELECT count(*) FILTER (WHERE outcome = 'ok'), coalesce(sum(retries), 0),
                   round((percentile_cont(0.99) WITHIN GROUP (ORDER BY micros) / 1000)::numeric, 2)
            FROM vms_bench.outcomes WHERE strategy <> 'release' AND NOT first")
        failures=$(psql -X -At "$URI" -c "
            SELECT coalesce(string_agg(outcome || ' ' || n, ', ' ORDER BY outcome), '0')
            FROM (SELECT CASE WHEN strategy = 'release' THEN 'release ' ELSE '' END || outcome AS outcome, count(*) AS n
                  FROM vms_bench.outcomes WHERE outcome <> 'ok' GROUP BY 1) f")
        broken=$(psql -X -At "$URI" -c "
            SELECT count(*) FROM vms.servers s
            LEFT JOIN LATERAL (SELECT coalesce(sum(v.ram), 0) r, coalesce(sum(v.cpu), 0) c, count(*) n FROM vms.vms v
                               WHERE v.server_id = s.id AND v.state = 'running') l ON true
            WHERE s.available_ram + l.r <> s.total_ram OR s.available_cpu + l.c <> s.total_cpu
               OR s.available_ips + l.n <> s.total_ips OR s.available_ram < 0 OR s.available_cpu < 0")
        [ "$broken" = 0 ] || die "capacity invariant broken on $broken servers after $name/$strategy"
        [ "$aborted" = 0 ] || failures="$failures, pgbench failed:$aborted"
        rate=$(python3 -c "print(round($ok / $DURATION))")
        [ "$name" = ceiling ] && ceiling=$rate
        ratio=$(python3 -c "print('%.2f' % ($rate / max($ceiling, 1)))")
        echo "| $name | $servers | $clients | $strategy | $rate | $p50 | $p99 | $fn_p99 | $retries | $failures | $ratio |" >>"$WORK/table.md"
    done
done

mkdir -p benchmarks/results
{ cat "$WORK/table.md"; echo; echo '## pgbench output'; for f in "$WORK"/*.out; do echo; echo "### $(basename "$f" .out)"; echo '```'; cat "$f"; echo '```'; done; } >"$OUT"
cat "$WORK/table.md"
log "saved $OUT"
