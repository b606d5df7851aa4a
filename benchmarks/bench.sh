#!/usr/bin/env bash
# `make bench`: one run, on the same data, of
#   1. the loader's own ceiling: loader vs wrk on nginx's static `return 204` (/static-204);
#   2. add_widget at 64 connections: pgbench calling the SQL function (the ceiling), the loader against
#      one gateway, the loader against nginx in front of the gateways;
#   3. get_widget: the same three on seeded widgets;
#   4. the mixed widgets workload at a fixed 5,000 req/s through nginx (p99 target < 20 ms) and at
#      10,000 req/s (the seed's figure), latency from the intended send time, with the CPU time each
#      component used per request and a perf profile of a gateway (where the time goes).
# Prints one table with medians and ratios, writes benchmarks/results/<timestamp>.json and an HTML report
# of each fixed-rate run next to it. Runs only against 127.0.0.1 and the local cluster's socket.
# Settings (environment): BENCH_DURATION (10 s per run), BENCH_REPEAT (3), BENCH_CONNECTIONS (64),
# BENCH_RATE (5000), BENCH_HIGH_RATE (10000), BENCH_RATE_DURATION (20 s), BENCH_SEED (200000: widgets
# seeded when the database has none), BENCH_DB (platform), NGINX_PORT (8080), GATEWAY_BASE_PORT (3000).
set -euo pipefail
source "$(dirname "$0")/../scripts/env.sh"
cd "$ROOT"

DURATION=${BENCH_DURATION:-10}
REPEAT=${BENCH_REPEAT:-3}
CONNECTIONS=${BENCH_CONNECTIONS:-64}
RATE=${BENCH_RATE:-5000}
HIGH_RATE=${BENCH_HIGH_RATE:-10000}
RATE_DURATION=${BENCH_RATE_DURATION:-20}
SEED=${BENCH_SEED:-200000}
DB=${BENCH_DB:-$DB_NAME}
NGINX_URL="http://127.0.0.1:${NGINX_PORT:-8080}"
GATEWAY_URL="http://127.0.0.1:$((${GATEWAY_BASE_PORT:-3000} + 1))"
GATEWAY_ADMIN="http://127.0.0.1:$((${GATEWAY_ADMIN_BASE_PORT:-3100} + 1))"
LOADER="$ROOT/benchmarks/loader/.build/release/loader"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
WORK="$DATA_DIR/bench/$STAMP"
RESULTS="$ROOT/benchmarks/results"
mkdir -p "$WORK" "$RESULTS"
command -v wrk >/dev/null || die "wrk is missing (make up installs it)"
command -v pgbench >/dev/null || die "pgbench is missing (postgresql-contrib)"

# --- the service: up unless already serving -----------------------------------------------------
if curl -fsS -o /dev/null "$GATEWAY_ADMIN/ready" 2>/dev/null && curl -fsS -o /dev/null "$NGINX_URL/static-204" 2>/dev/null; then
    log "service is up (gateway $GATEWAY_URL, nginx $NGINX_URL)"
else
    log "service not up: running scripts/up.sh"
    bash scripts/up.sh
fi
log "building the loader (release)"
swift build -c release --package-path benchmarks/loader 2>&1 | grep -E 'error|Compiling|Build' | tail -3
[ -x "$LOADER" ] || die "loader build failed"

# --- the data: seeded widgets ('seed-1' .. 'seed-N', benchmarks/seed/seed-widgets.sql) -----------
uri=$(admin_uri "$DB")
seeded() {   # the largest n such that 'seed-n' exists (binary search over the unique index)
    psql -X -At "$uri" <<'SQL'
WITH RECURSIVE s(lo, hi) AS (
    SELECT 0::bigint, 1000000000::bigint
    UNION ALL
    SELECT CASE WHEN e THEN mid ELSE lo END, CASE WHEN e THEN hi ELSE mid - 1 END
    FROM (SELECT lo, hi, (lo + hi + 1) / 2 AS mid,
                 EXISTS (SELECT 1 FROM widgets.widgets WHERE serial_number = 'seed-' || ((lo + hi + 1) / 2)) AS e
          FROM s WHERE lo < hi) step
)
SELECT min(hi) FROM s;
SQL
}
seeds=$(seeded)
if [ "${seeds:-0}" -lt 1000 ]; then
    existing=$(psql -X -At "$uri" -c "SELECT count(*) FROM (SELECT 1 FROM widgets.widgets LIMIT 100001) w")
    [ "$existing" -le 100000 ] || die "database $DB has $existing+ widgets but no seeded ones: run make seed-widgets N=... first"
    log "no seeded widgets in $DB: seeding $SEED (replaces the $existing widgets there)"
    bash scripts/seed-widgets.sh "$SEED" "$DB" >/dev/null
    seeds=$(seeded)
fi
log "$seeds seeded widgets in $DB"

# --- helpers ---------------------------------------------------------------------------------------
# CPU ticks (1/100 s) used so far by PostgreSQL (postmaster, its live children and those it reaped),
# the gateways and nginx (master and workers), read from /proc.
proc_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
tree_ticks() {   # a process, its reaped children, and its live children
    local root=$1 total child
    [ -n "$root" ] && [ -r "/proc/$root/stat" ] || { echo 0; return; }
    total=$(awk '{ print $14 + $15 + $16 + $17 }' "/proc/$root/stat")
    for child in $(ps -o pid= --ppid "$root"); do total=$((total + $(proc_ticks "$child"))); done
    echo "$total"
}
cpu_snapshot() {
    local pg gw=0 ng f
    pg=$(tree_ticks "$(head -1 "$PGDATA_DIR/postmaster.pid" 2>/dev/null)")
    for f in "$SOCKET_DIR"/gateway-*.pid; do [ -f "$f" ] && gw=$((gw + $(tree_ticks "$(cat "$f")"))); done
    ng=$(tree_ticks "$(cat "$SOCKET_DIR/nginx.pid" 2>/dev/null)")
    echo "$pg $gw $ng"
}
# Runs the loader with a label; its JSON goes to $WORK/<label>.json, its CPU split to <label>.cpu.
run_loader() {
    local label=$1; shift
    local before after
    before=$(cpu_snapshot)
    /usr/bin/time -f "%U %S" -o "$WORK/$label.loadertime" \
        "$LOADER" --label "$label" --seed-count "$seeds" --quiet --json "$WORK/$label.json" "$@"
    after=$(cpu_snapshot)
    echo "$before $after $(cat "$WORK/$label.loadertime")" >"$WORK/$label.cpu"
    jq -r '"  \(.label): \(.requests_per_second | floor) req/s, p99 \(.latency_ms.p99) ms, status \(.status | tostring), errors \(.errors.total)"' "$WORK/$label.json"
}
# wrk on the static location: requests/s and p99 (ms) into $WORK/<label>.json.
run_wrk() {
    local label=$1 out
    out=$(/usr/bin/time -f "%U %S" -o "$WORK/$label.wrktime" wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency "$NGINX_URL/static-204")
    echo "$out" >"$WORK/$label.txt"
    echo "$out" | awk -v label="$label" '
        function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
        /^ +99%/ { p99 = ms($2) } /^Requests\/sec:/ { rps = $2 }
        /Non-2xx/ { non2xx = $NF } /Socket errors/ { errors = $0 }
        /requests in/ { total = $1 }
        END { printf "{\"label\":\"%s\",\"tool\":\"wrk\",\"requests_per_second\":%s,\"requests\":%d,\"latency_ms\":{\"p99\":%s},\"non_2xx\":%d,", label, rps, total, p99, non2xx }' \
        >"$WORK/$label.json"
    awk '{ printf "\"cpu_seconds\":%.2f}\n", $1 + $2 }' "$WORK/$label.wrktime" >>"$WORK/$label.json"
    jq -r '"  \(.label): \(.requests_per_second | floor) req/s, p99 \(.latency_ms.p99) ms"' "$WORK/$label.json"
}
# pgbench calling a function directly; tps and p99 (from the per-transaction log) into <label>.json.
run_pgbench() {
    local label=$1 script=$2; shift 2
    rm -f "$WORK/$label.log"*
    (cd "$WORK" && pgbench -n -M prepared -h "$SOCKET_DIR" -p "$DB_PORT" -U postgres -c "$CONNECTIONS" -j 2 \
        -T "$DURATION" --log --log-prefix="$label.log" -f "$ROOT/benchmarks/pgbench/$script" "$@" "$DB" \
        >"$WORK/$label.txt" 2>&1) || { tail -5 "$WORK/$label.txt" >&2; die "pgbench $label failed"; }
    local tps p99 failed
    tps=$(sed -n 's/^tps = \([0-9.]*\) (without.*/\1/p' "$WORK/$label.txt")
    failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$WORK/$label.txt")
    p99=$(cat "$WORK/$label.log"* | awk '{ print $3 }' | sort -n | awk '{ v[NR] = $1 } END { i = int(NR * 0.99); if (i < 1) i = 1; printf "%.3f", v[i] / 1000 }')
    rm -f "$WORK/$label.log"*
    printf '{"label":"%s","tool":"pgbench","requests_per_second":%s,"latency_ms":{"p99":%s},"failed":%s}\n' \
        "$label" "$tps" "$p99" "${failed:-0}" >"$WORK/$label.json"
    jq -r '"  \(.label): \(.requests_per_second | floor) tps, p99 \(.latency_ms.p99) ms, failed \(.failed)"' "$WORK/$label.json"
}

# --- 1. the loader's own ceiling -------------------------------------------------------------------
log "static 204 on nginx: loader vs wrk, $REPEAT x ${DURATION}s each, $CONNECTIONS connections, 2 threads"
for r in $(seq "$REPEAT"); do
    run_loader "static-loader-$r" --url "$NGINX_URL" --scenario static -c "$CONNECTIONS" -t 2 -d "$DURATION"
    run_wrk "static-wrk-$r"
done

# --- 2. add_widget ---------------------------------------------------------------------------------
log "add_widget: pgbench (ceiling) / loader -> 1 gateway / loader -> nginx -> gateways, $REPEAT x ${DURATION}s, $CONNECTIONS connections"
for r in $(seq "$REPEAT"); do
    run_pgbench "add-pgbench-$r" ceiling_add_widget.sql -D prefix="$(date +%s)$r"
    run_loader "add-gateway-$r" --url "$GATEWAY_URL" --scenario widgets-add -c "$CONNECTIONS" -d "$DURATION" --warmup 1
    run_loader "add-nginx-$r" --url "$NGINX_URL" --scenario widgets-add -c "$CONNECTIONS" -d "$DURATION" --warmup 1
done

# --- 3. get_widget ---------------------------------------------------------------------------------
log "get_widget: pgbench (ceiling) / loader -> 1 gateway / loader -> nginx -> gateways, $REPEAT x ${DURATION}s"
for r in $(seq "$REPEAT"); do
    run_pgbench "get-pgbench-$r" ceiling_get_widget.sql -D seeds="$seeds"
    run_loader "get-gateway-$r" --url "$GATEWAY_URL" --scenario widgets-get -c "$CONNECTIONS" -d "$DURATION" --warmup 1
    run_loader "get-nginx-$r" --url "$NGINX_URL" --scenario widgets-get -c "$CONNECTIONS" -d "$DURATION" --warmup 1
done

# --- 4. fixed rates, mixed workload, through nginx -------------------------------------------------
for rate in "$RATE" "$HIGH_RATE"; do
    log "widgets-mixed at $rate req/s through nginx for ${RATE_DURATION}s (latency from the intended send time)"
    profiler=""
    if [ "$rate" = "$HIGH_RATE" ] && command -v perf >/dev/null && [ -f "$SOCKET_DIR/gateway-1.pid" ]; then
        # Where the time goes: a CPU profile of gateway 1 in the middle of the run.
        (sleep 5; perf record -q -F 499 -g -p "$(cat "$SOCKET_DIR/gateway-1.pid")" -o "$WORK/gateway-1.perf" -- sleep 5 \
            >/dev/null 2>&1) &
        profiler=$!
    fi
    run_loader "mixed-$rate" --url "$NGINX_URL" --scenario widgets-mixed --rate "$rate" -c "$CONNECTIONS" \
        -d "$RATE_DURATION" --warmup 2 --html "$RESULTS/$STAMP-mixed-$rate.html"
    if [ -n "$profiler" ] && wait "$profiler" && [ -s "$WORK/gateway-1.perf" ]; then
        {
            echo "perf profile of gateway 1 during widgets-mixed at $rate req/s through nginx ($STAMP)"
            echo "== by shared object"; perf report -i "$WORK/gateway-1.perf" --no-children --sort dso 2>/dev/null | grep -E '^ +[0-9]' | head -12 || true
            echo "== by thread"; perf report -i "$WORK/gateway-1.perf" --no-children --sort comm 2>/dev/null | grep -E '^ +[0-9]' | head -6 || true
            echo "== self time, top symbols"; perf report -i "$WORK/gateway-1.perf" --no-children --sort symbol -g none 2>/dev/null | grep -E '^ +[0-9]' | head -30 || true
            echo "== inclusive time (children), top symbols"; perf report -i "$WORK/gateway-1.perf" --children --sort symbol -g none 2>/dev/null | grep -E '^ +[0-9]' | head -40 || true
        } | cut -c1-200 >"$RESULTS/$STAMP-profile-gateway.txt" || true   # head closing its pipe is fine
        log "gateway profile: $RESULTS/$STAMP-profile-gateway.txt"
    fi
done

# --- the table and the JSON ------------------------------------------------------------------------
python3 "$ROOT/benchmarks/summarize.py" "$WORK" "$RESULTS/$STAMP.json" \
    --repeat "$REPEAT" --rates "$RATE" "$HIGH_RATE" --seeds "$seeds" --database "$DB" --connections "$CONNECTIONS"
log "results: $RESULTS/$STAMP.json, reports: $RESULTS/$STAMP-mixed-*.html, raw runs: $WORK"
