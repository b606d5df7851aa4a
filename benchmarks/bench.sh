#!/usr/bin/env bash
# `make bench`: one run, on the same data, of
#   1. the loader's own ceiling: loader vs wrk on nginx's static `return 204` (/static-204);
#   2. add_widget at 64 connections: pgbench calling the SQL function (the ceiling), the loader against
#      one gateway, the loader against nginx in front of the gateways;
#   3. get_widget: the same three on seeded widgets;
#   4. the mixed widgets workload (the loader's widgets-mixed: 50% get_widget, 25% add_widget, 12.5%
#      associate_widgets, 12.5% remove_association): its ceiling, pgbench running the same mix as
#      weighted scripts on the same functions with the same connections; then a step search, through
#      nginx and open loop (latency from the intended send time), for the highest fixed rate whose p99
#      stays under 20 ms (the sustainable rate); then twice that rate, where goodput, the p99 of the
#      admitted (non-503) requests and the share of 503s show how the service copes with overload,
#      with a perf profile of gateway 1.
# Every loader and pgbench run records the CPU time PostgreSQL, the gateways, nginx and the load generator
# used (from /proc), so the table can set the CPU PostgreSQL spends per request through a gateway against
# what it spends per pgbench transaction of the same function, and the gateways' against PostgreSQL's.
# Prints one table of figures (ratios within this run, medians where repeated) against their targets,
# writes the run's record, benchmarks/results/<timestamp>.md (benchmarks/record.py: the figures, the step search,
# the medians and the top of the gateway profile); the summary JSON, the HTML reports of the sustainable-rate and
# 2x runs, the whole profile and every run's raw output stay under .data/bench/<timestamp>/ (not in git).
# Runs only against 127.0.0.1 and the local cluster's socket.
# Settings (environment): BENCH_OPEN_CONNECTIONS (256, open-loop runs), BENCH_DURATION (10 s per closed-loop run), BENCH_REPEAT (3), BENCH_CONNECTIONS
# (64), BENCH_STEP_DURATION (8 s per step), BENCH_STEPS (6), BENCH_STEP_START (0.5: first step at this
# fraction of the mixed ceiling; BENCH_RATE=<req/s> starts there instead), BENCH_P99_MS (20),
# BENCH_RATE_DURATION (20 s at twice the sustainable rate), BENCH_SEED (200000: widgets seeded when the
# database has none), BENCH_DB (platform), NGINX_PORT (8080), GATEWAY_BASE_PORT (3000).
set -euo pipefail
source "$(dirname "$0")/../scripts/env.sh"
cd "$ROOT"

DURATION=${BENCH_DURATION:-10}
REPEAT=${BENCH_REPEAT:-3}
CONNECTIONS=${BENCH_CONNECTIONS:-64}
# Open-loop runs (step search, 2x) model independent arrivals: enough connections that the loader is
# never the queue (with 64, requests past the gateways' capacity would wait in the loader, not be shed).
OPEN_CONNECTIONS=${BENCH_OPEN_CONNECTIONS:-256}
STEP_DURATION=${BENCH_STEP_DURATION:-8}
STEPS=${BENCH_STEPS:-6}
STEP_START=${BENCH_STEP_START:-0.5}
START_RATE=${BENCH_RATE:-}
P99_MS=${BENCH_P99_MS:-20}
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
tree_ticks() {   # a process, its reaped children, and its live children (one awk over all their stat files)
    local root=$1 total
    [ -n "$root" ] && [ -r "/proc/$root/stat" ] || { echo 0; return; }
    # shellcheck disable=SC2046   # (cat skips a child that exited meanwhile; its time moves to the root's)
    total=$(cat "/proc/$root/stat" $(ps -o pid= --ppid "$root" | sed 's|^ *\(.*\)|/proc/\1/stat|') 2>/dev/null |
        awk -v root="$root" '$1 == root { t += $14 + $15 + $16 + $17; next } { t += $14 + $15 } END { print t + 0 }')
    echo "${total:-0}"
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
# pgbench calling SQL functions directly (label, then pgbench's script and -D arguments); tps, p99 (from
# the per-transaction log) and the CPU split like run_loader, into <label>.json / <label>.cpu. PostgreSQL's
# CPU is counted from the moment all clients are connected (a backend's start costs ~5 ms of CPU, which
# the gateways' pooled connections do not pay per run) over the transactions that completed after it
# (from the log's completion times); pgbench's own CPU (the generator) over the whole run.
run_pgbench() {
    local label=$1; shift
    local before after pid t0 t1 t2 n
    rm -f "$WORK/$label.log"*
    (cd "$WORK" && exec /usr/bin/time -f "%U %S" -o "$WORK/$label.pgbenchtime" \
        pgbench -n -M prepared -h "$SOCKET_DIR" -p "$DB_PORT" -U postgres -c "$CONNECTIONS" -j 2 \
        -T "$DURATION" --log --log-prefix="$label.log" "$@" "$DB" >"$WORK/$label.txt" 2>&1) &
    pid=$!
    for _ in $(seq 100); do
        n=$(psql -X -At "$uri" -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgbench'" 2>/dev/null || echo 0)
        [ "${n:-0}" -lt "$CONNECTIONS" ] || break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    t0=$(date +%s.%N); before=$(cpu_snapshot); t1=$(date +%s.%N)
    wait "$pid" || { tail -5 "$WORK/$label.txt" >&2; die "pgbench $label failed"; }
    after=$(cpu_snapshot); t2=$(date +%s.%N)
    echo "$before $after $(cat "$WORK/$label.pgbenchtime")" >"$WORK/$label.cpu"
    local tps p99 failed processed counted window
    tps=$(sed -n 's/^tps = \([0-9.]*\) (without.*/\1/p' "$WORK/$label.txt")
    failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$WORK/$label.txt")
    processed=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$WORK/$label.txt")
    p99=$(cat "$WORK/$label.log"* | awk '{ print $3 }' | sort -n | awk '{ v[NR] = $1 } END { i = int(NR * 0.99); if (i < 1) i = 1; printf "%.3f", v[i] / 1000 }')
    # log line: client transaction latency_us script epoch_s epoch_us (completion time)
    counted=$(cat "$WORK/$label.log"* | awk -v t="$t0" -v u="$t1" 'BEGIN { from = (t + u) / 2 } $5 + $6 / 1e6 >= from { n++ } END { print n + 0 }')
    window=$(awk -v t="$t0" -v u="$t1" -v e="$t2" 'BEGIN { printf "%.2f", e - (t + u) / 2 }')
    rm -f "$WORK/$label.log"*
    printf '{"label":"%s","tool":"pgbench","requests_per_second":%s,"latency_ms":{"p99":%s},"failed":%s,"transactions":%s,"duration_seconds":%s,"cpu_window":{"seconds":%s,"transactions":%s}}\n' \
        "$label" "$tps" "$p99" "${failed:-0}" "${processed:-0}" "$DURATION" "$window" "$counted" >"$WORK/$label.json"
    jq -r '"  \(.label): \(.requests_per_second | floor) tps, p99 \(.latency_ms.p99) ms, failed \(.failed)"' "$WORK/$label.json"
}
median_rps() {   # the median requests_per_second of the runs <prefix>-1 .. <prefix>-REPEAT
    local prefix=$1
    for r in $(seq "$REPEAT"); do cat "$WORK/$prefix-$r.json"; done |
        jq -s 'map(.requests_per_second) | sort | if length % 2 == 1 then .[length / 2 | floor] else (.[length / 2 - 1] + .[length / 2]) / 2 end'
}
P=$ROOT/benchmarks/pgbench

# --- 1. the loader's own ceiling -------------------------------------------------------------------
log "static 204 on nginx: loader vs wrk, $REPEAT x ${DURATION}s each, $CONNECTIONS connections, 2 threads"
for r in $(seq "$REPEAT"); do
    run_loader "static-loader-$r" --url "$NGINX_URL" --scenario static -c "$CONNECTIONS" -t 2 -d "$DURATION"
    run_wrk "static-wrk-$r"
done

# --- 2. add_widget ---------------------------------------------------------------------------------
log "add_widget: pgbench (ceiling) / loader -> 1 gateway / loader -> nginx -> gateways, $REPEAT x ${DURATION}s, $CONNECTIONS connections"
for r in $(seq "$REPEAT"); do
    run_pgbench "add-pgbench-$r" -f "$P/ceiling_add_widget.sql" -D prefix="$(date +%s)$r"
    run_loader "add-gateway-$r" --url "$GATEWAY_URL" --scenario widgets-add -c "$CONNECTIONS" -d "$DURATION" --warmup 1
    run_loader "add-nginx-$r" --url "$NGINX_URL" --scenario widgets-add -c "$CONNECTIONS" -d "$DURATION" --warmup 1
done

# --- 3. get_widget ---------------------------------------------------------------------------------
log "get_widget: pgbench (ceiling) / loader -> 1 gateway / loader -> nginx -> gateways, $REPEAT x ${DURATION}s"
for r in $(seq "$REPEAT"); do
    run_pgbench "get-pgbench-$r" -f "$P/ceiling_get_widget.sql" -D seeds="$seeds"
    run_loader "get-gateway-$r" --url "$GATEWAY_URL" --scenario widgets-get -c "$CONNECTIONS" -d "$DURATION" --warmup 1
    run_loader "get-nginx-$r" --url "$NGINX_URL" --scenario widgets-get -c "$CONNECTIONS" -d "$DURATION" --warmup 1
done

# --- 4. the mixed workload: its ceiling, the highest rate with p99 < P99_MS via nginx, then twice that ---
# 4a. pgbench on the same mix (ceiling_get_widget@4, ceiling_add_widget@2, mixed_associate@1,
# mixed_remove@1), each client associating and removing only its own K pairs so that no call fails
# (pgbench would abort the client); mixed_prepare.sql puts those pairs in the scripts' starting state.
K=$(( 9 * (seeds / 20) / CONNECTIONS )); [ "$K" -le 128 ] || K=128
[ "$K" -ge 2 ] || die "too few seeded widgets ($seeds) for $CONNECTIONS pgbench clients with their own pairs"
log "mixed ceiling: pgbench on the widgets-mixed functions (50/25/12.5/12.5), $REPEAT x ${DURATION}s, $CONNECTIONS connections, $K pairs per client"
for r in $(seq "$REPEAT"); do
    psql -X -q -v clients="$CONNECTIONS" -v k="$K" --single-transaction -f "$P/mixed_prepare.sql" "$uri" >/dev/null
    run_pgbench "mixed-pgbench-$r" -f "$P/ceiling_get_widget.sql@4" -f "$P/ceiling_add_widget.sql@2" \
        -f "$P/mixed_associate.sql@1" -f "$P/mixed_remove.sql@1" -D seeds="$seeds" -D prefix="$(date +%s)m$r" \
        -D ring="$K" -D clients="$CONNECTIONS" -D ring_next=$((K / 2)) -D ring_oldest=0
done
ceiling=$(median_rps mixed-pgbench)

# 4b. Step search through nginx, open loop: a step passes when p99 < P99_MS, the achieved rate is at
# least 97% of the target and at most 0.1% of the requests got a 5xx or a transport error
# (summarize.py --verdict, the same rule the table uses). Up while steps pass (x1.5), halve while none
# has, then bisect between the best pass and the lowest failure.
rate=${START_RATE:-$(awk -v c="$ceiling" -v f="$STEP_START" 'BEGIN { printf "%d", c * f }')}
[ "$rate" -ge 1 ] || rate=100
best=0; lowest_fail=0; lowest_tried=$rate
log "mixed step search via nginx: p99 < ${P99_MS} ms, $STEPS steps of ${STEP_DURATION}s, from $rate req/s (mixed ceiling $ceiling tps)"
for i in $(seq "$STEPS"); do
    run_loader "mixed-step-$i" --url "$NGINX_URL" --scenario widgets-mixed --rate "$rate" -c "$OPEN_CONNECTIONS" \
        -d "$STEP_DURATION" --warmup 1 --html "$WORK/mixed-step-$i.html"
    verdict=$(python3 "$ROOT/benchmarks/summarize.py" --verdict "$WORK/mixed-step-$i.json" --p99-ms "$P99_MS")
    echo "    step $i at $rate req/s: $verdict"
    [ "$rate" -ge "$lowest_tried" ] || lowest_tried=$rate
    if [ "$verdict" = pass ]; then
        [ "$rate" -le "$best" ] || { best=$rate; cp "$WORK/mixed-step-$i.html" "$WORK/mixed-sustainable.html"; }
    elif [ "$lowest_fail" -eq 0 ] || [ "$rate" -lt "$lowest_fail" ]; then
        lowest_fail=$rate
    fi
    if [ "$lowest_fail" -eq 0 ]; then next=$(awk -v r="$best" 'BEGIN { printf "%d", r * 1.5 }')
    elif [ "$best" -eq 0 ]; then next=$((lowest_fail / 2))
    else next=$(((best + lowest_fail) / 2)); fi
    # Stop when the bracket is within 3% (another step would not tell much).
    if [ "$best" -gt 0 ] && [ "$lowest_fail" -gt 0 ] && [ $((100 * (lowest_fail - best))) -le $((3 * best)) ]; then break; fi
    [ "$next" -ge 1 ] || break
    rate=$next
done

# 4c. Twice the sustainable rate (twice the lowest rate tried when none passed), with a CPU profile of
# gateway 1 in its middle (where the time goes).
overload=$((2 * (best > 0 ? best : lowest_tried)))
log "widgets-mixed at 2 x $((overload / 2)) = $overload req/s through nginx for ${RATE_DURATION}s (goodput, admitted p99, 503s)"
profiler=""
if command -v perf >/dev/null && [ -f "$SOCKET_DIR/gateway-1.pid" ]; then
    delay=$(awk -v d="$RATE_DURATION" 'BEGIN { printf "%.1f", 2.1 + d / 4 }')
    span=$(awk -v d="$RATE_DURATION" 'BEGIN { s = d / 2; if (s > 5) s = 5; printf "%.1f", s }')
    (sleep "$delay"; perf record -q -F 499 -g -p "$(cat "$SOCKET_DIR/gateway-1.pid")" -o "$WORK/gateway-1.perf" -- sleep "$span" \
        >/dev/null 2>&1) &
    profiler=$!
fi
run_loader "mixed-2x" --url "$NGINX_URL" --scenario widgets-mixed --rate "$overload" -c "$OPEN_CONNECTIONS" \
    -d "$RATE_DURATION" --warmup 2 --html "$WORK/mixed-2x.html"
if [ -n "$profiler" ] && wait "$profiler" && [ -s "$WORK/gateway-1.perf" ]; then
    {
        echo "perf profile of gateway 1 during widgets-mixed at $overload req/s (2 x the sustainable rate) through nginx ($STAMP)"
        echo "== by shared object"; perf report -i "$WORK/gateway-1.perf" --no-children --sort dso 2>/dev/null | grep -E '^ +[0-9]' | head -12 || true
        echo "== by thread"; perf report -i "$WORK/gateway-1.perf" --no-children --sort comm 2>/dev/null | grep -E '^ +[0-9]' | head -6 || true
        echo "== self time, top symbols"; perf report -i "$WORK/gateway-1.perf" --no-children --sort symbol -g none 2>/dev/null | grep -E '^ +[0-9]' | head -30 || true
        echo "== inclusive time (children), top symbols"; perf report -i "$WORK/gateway-1.perf" --children --sort symbol -g none 2>/dev/null | grep -E '^ +[0-9]' | head -40 || true
    } | cut -c1-200 >"$WORK/profile-gateway.txt" || true   # head closing its pipe is fine
    log "gateway profile: $WORK/profile-gateway.txt"
fi

# --- the table and the JSON ------------------------------------------------------------------------
python3 "$ROOT/benchmarks/summarize.py" "$WORK" "$WORK/summary.json" --repeat "$REPEAT" --p99-ms "$P99_MS" \
    --seeds "$seeds" --database "$DB" --connections "$CONNECTIONS" --duration "$DURATION" --step-duration "$STEP_DURATION" \
    --rate-duration "$RATE_DURATION" --pairs-per-client "$K"
python3 "$ROOT/benchmarks/record.py" "$WORK/summary.json" "$RESULTS/$STAMP.md" \
    $([ -s "$WORK/profile-gateway.txt" ] && echo --profile "$WORK/profile-gateway.txt")
log "record: $RESULTS/$STAMP.md; summary JSON, HTML reports (mixed-{sustainable,2x}.html), profile and raw runs: $WORK"
