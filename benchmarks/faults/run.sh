#!/usr/bin/env bash
# `make faults`: the fault suite (docs/faults.md). Each scenario runs under a bounded, open-loop write load from
# the loader (scenario `faults`: widgets, associations, VMs, compute nodes, build claims) through nginx, and
# the loader logs every acknowledged (2xx) write (--ack-log). Scenarios:
#   1  kill -9 one gateway: failures limited to the requests in flight, service continues through nginx,
#      the supervisor starts it again
#   2  restart PostgreSQL with a fast shutdown, then 3 with an immediate one: 503 + Retry-After while it is
#      down, full service within 2 s of it being back, no gateway restart (same pids)
#   (4, a promotion scripted by the suite, is gone: failover is Patroni's, scenarios 11-15)
#   5  kill -9 the gateway holding a VM allocation that the client sent as GET /vms/v1/server (nginx turns it
#      into POST /rpc/allocate_vm), slowed by a test-only trigger (benchmarks/faults/slow_allocation.sql,
#      installed here, dropped after): nginx must not send it to the other gateway (exactly one allocation
#      reaches the database) and the client gets 502, not a second VM (whose twin's private key would be lost); no load
#   6  clients retrying POSTs with Idempotency-Key (benchmarks/faults/idempotent_client.py: each key sent until a 2xx,
#      the first answer or its replay) across a kill -9 of a gateway and a PostgreSQL restart; a test-only function
#      (benchmarks/faults/idempotency.sql) writes one row per run, and SQL checks every key was applied exactly once
#      (benchmarks/faults/idempotency_check.sql)
# After each: every acknowledged write is in the database (benchmarks/faults/acks.sql) and every invariant
# holds (benchmarks/faults/invariants.sql).
#   11-15  high availability on its own cluster (benchmarks/faults/ha.sh): 3 etcd + 3 PostgreSQL members under
#      Patroni, each member in its own network namespace; the leader's postmaster killed, a switchover, the
#      etcd leader killed, the old leader rejoining, and a network partition of the leader. Patroni acts alone.
#
# Everything is the suite's own, on 127.0.0.1 and its own network namespaces (plf1-3 on a bridge plfbr,
# 10.254.70.0/24, deleted at the end), and never touches the cluster or processes of `make up` / `make up-ha`:
# clusters in .data/faults/primary (port 55440) and .data/faults/ha (55471-55487), gateways on 3201/3202
# (admin 3301/3302) under scripts/supervise.sh, nginx on 8280, pid files in .data/faults/run, logs in
# .data/faults/log, per-run files in .data/faults/work/<stamp>. Prints each scenario's figures and
# `N passed, N failed`; writes benchmarks/results/faults-<stamp>.md. About 8 minutes (plus builds).
# Settings (environment): FAULTS_RATE (200 req/s), FAULTS_CONNECTIONS (32), FAULTS_DURATION (16 s per
# scenario), FAULTS_AT (5: second of the run the fault is injected), FAULTS_DOWN (2: seconds PostgreSQL stays
# down), GATEWAY_BIN / LOADER_BIN (default: release builds in .build and benchmarks/loader/.build, brought up
# to date first unless FAULTS_BUILD=0), FAULTS_KEEP=1 (leave the suite's clusters, gateways and nginx running at
# the end, for inspection; `bash benchmarks/faults/run.sh stop` stops them), FAULTS_ONLY (a comma-separated choice of
# kill, pg-restart, held-allocation, idempotency, ha; `single` = all but ha; default all), FAULTS_HA_DURATION
# (30 s per HA scenario: a failover takes ~10 s).
set -euo pipefail
source "$(dirname "$0")/../../scripts/env.sh"
cd "$ROOT"

RATE=${FAULTS_RATE:-200}
CONNECTIONS=${FAULTS_CONNECTIONS:-32}
DURATION=${FAULTS_DURATION:-16}
FAULT_AT=${FAULTS_AT:-5}
DOWN=${FAULTS_DOWN:-2}
PRIMARY_PORT=55440
ONLY=${FAULTS_ONLY:-}
want() { [ -z "$ONLY" ] || [[ ",$ONLY," == *",$1,"* ]] || { [[ ",$ONLY," == *",single,"* ]] && [ "$1" != ha ]; }; }
# The single cluster (scenarios 1-6) is set up only when one of its scenarios runs; the loader drives 1-3 and 11-15.
single_wanted() { want kill || want pg-restart || want held-allocation || want idempotency; }
needs_loader() { want kill || want pg-restart || want ha; }
NGINX_PORT=8280
GW_BASE=3200
GW_ADMIN_BASE=3300
F="$DATA_DIR/faults"
RUN="$F/run"
FLOG="$F/log"
PRIMARY="$F/primary"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
WORK="$F/work/$STAMP"
RESULTS="$ROOT/benchmarks/results"
REPORT="$RESULTS/faults-$STAMP.md"
PAIRS=8000
PROJECTS=40
NODES=60

# --- the suite's processes and clusters ----------------------------------------------------------------
export GATEWAYS=2 GATEWAY_BASE_PORT=$GW_BASE GATEWAY_ADMIN_BASE_PORT=$GW_ADMIN_BASE GATEWAY_DB_POOL=8 \
    GATEWAY_RUN_DIR="$RUN" GATEWAY_CONF_DIR="$F" GATEWAY_LOG_DIR="$FLOG" GATEWAY_JWT_SECRET_FILE="$F/secrets/jwt.secret" \
    GATEWAY_BIN NGINX_PORT NGINX_PREFIX="$F/nginx" NGINX_PID_FILE="$RUN/nginx.pid" NGINX_LOG_DIR="$FLOG"
pgctl() { as_postgres "$PGBIN/pg_ctl" "$@"; }
sql() { local port=$1; shift; psql -X -qAt -v ON_ERROR_STOP=1 -h "$RUN" -p "$port" -U postgres -d platform "$@"; }
now() { date +%s.%N; }
pid_of() { cat "$RUN/gateway-$1.pid" 2>/dev/null || echo none; }

source benchmarks/faults/ha.sh       # the HA scenarios' functions (ha_teardown, ha_scenarios)
LOADER_PID=""
teardown() {
    [ -n "$LOADER_PID" ] && kill "$LOADER_PID" 2>/dev/null || true
    bash scripts/nginx.sh stop 2>/dev/null || true
    bash scripts/gateways.sh stop 2>/dev/null || true
    [ -f "$PRIMARY/postmaster.pid" ] && pgctl -D "$PRIMARY" -m immediate -w stop >/dev/null 2>&1 || true
    ha_teardown
}
if [ "${1:-}" = stop ]; then teardown; exit 0; fi
# --- builds ------------------------------------------------------------------------------------------
build_binaries() {
    # The default binaries are built (incrementally) unless FAULTS_BUILD=0; binaries given by path are used as they are.
    if [ "$GATEWAY_BIN" = "$ROOT/.build/release/gateway" ] && { [ "${FAULTS_BUILD:-1}" = 1 ] || [ ! -x "$GATEWAY_BIN" ]; }; then
        log "building the gateway (release)"
        swift build -c release --product gateway 2>&1 | grep -E 'error|Build' | tail -3
    fi
    needs_loader || return 0
    LOADER_BIN=${LOADER_BIN:-$ROOT/benchmarks/loader/.build/release/loader}
    if [ "$LOADER_BIN" = "$ROOT/benchmarks/loader/.build/release/loader" ] && { [ "${FAULTS_BUILD:-1}" = 1 ] || [ ! -x "$LOADER_BIN" ]; }; then
        log "building the loader (release)"
        swift build -c release --package-path benchmarks/loader 2>&1 | grep -E 'error|Build' | tail -3
    fi
    [ -x "$GATEWAY_BIN" ] || die "no gateway binary at $GATEWAY_BIN"
    [ -x "$LOADER_BIN" ] || die "no loader binary at $LOADER_BIN"
    case "$("$LOADER_BIN" --help 2>&1)" in *--ack-log*) ;; *) false ;; esac || die "$LOADER_BIN has no --ack-log: rebuild it (FAULTS_BUILD=1)"
    command -v jq >/dev/null || die "jq is missing"
}
build_binaries
[ "${FAULTS_KEEP:-0}" = 1 ] || trap teardown EXIT

log "cleaning up an earlier run of the suite (its own processes and clusters only)"
teardown
rm -rf "$PRIMARY" "$F/standby" "$F/ha" "$F/nginx"
mkdir -p "$F" "$WORK" "$RESULTS" "$F/secrets" "$FLOG"
chmod 700 "$F/secrets"
install -d -o postgres -g postgres -m 755 "$RUN"
chown postgres:postgres "$FLOG"
(umask 077; head -c 48 /dev/urandom | base64 | tr -d '/+=\n' >"$F/secrets/jwt.secret"
 head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$F/secrets/authenticator.password")
PW=$(cat "$F/secrets/authenticator.password")
export GATEWAY_DB_URI="postgresql://authenticator:$PW@127.0.0.1:$PRIMARY_PORT/platform"

# Only the HA scenarios: no single cluster (scenarios 1-6).
if single_wanted; then
log "primary cluster on port $PRIMARY_PORT ($PRIMARY)"
install -d -o postgres -g postgres -m 700 "$PRIMARY"
as_postgres "$PGBIN/initdb" -D "$PRIMARY" -U postgres --encoding=UTF8 --locale=C.UTF-8 \
    --auth-local=trust --auth-host=scram-sha-256 >"$FLOG/initdb.log"
install -o postgres -g postgres -m 600 "$ROOT/config/postgresql.conf" "$PRIMARY/project.conf"
as_postgres tee "$PRIMARY/faults.conf" >/dev/null <<CONF
# benchmarks/faults: the project's settings (project.conf, durability on) with less memory.
port = $PRIMARY_PORT
shared_buffers = 256MB
effective_cache_size = 1GB
maintenance_work_mem = 256MB
max_connections = 100
CONF
printf "include_if_exists = 'project.conf'\ninclude_if_exists = 'faults.conf'\n" | as_postgres tee -a "$PRIMARY/postgresql.conf" >/dev/null
touch "$FLOG/primary.log"; chown postgres:postgres "$FLOG/primary.log"
start_primary() { pgctl -D "$PRIMARY" -l "$FLOG/primary.log" -w -t 60 -o "-p $PRIMARY_PORT -k $RUN" start >/dev/null; }
start_primary
as_postgres "$PGBIN/createdb" -h "$RUN" -p "$PRIMARY_PORT" platform
"$GATEWAY_BIN" migrate --db-uri "postgresql://postgres@/platform?host=$RUN&port=$PRIMARY_PORT" \
    --migrations migrations --sql sql >"$FLOG/migrate.log" 2>&1 || { tail -5 "$FLOG/migrate.log" >&2; die "migration failed"; }
psql -X -q -v ON_ERROR_STOP=1 -h "$RUN" -p "$PRIMARY_PORT" -U postgres -d platform -v pw="$PW" <<<"ALTER ROLE authenticator PASSWORD :'pw';"
SCENARIO_COUNT=4
sql $PRIMARY_PORT -v pairs=$PAIRS -v scenarios=$SCENARIO_COUNT -v nodes=$NODES -f benchmarks/faults/setup.sql >/dev/null
fi

"$GATEWAY_BIN" token --role app_user --sub faults-user --expires 1h --secret-file "$F/secrets/jwt.secret" >"$F/secrets/user.token"
"$GATEWAY_BIN" token --role worker --sub faults-worker --expires 1h --secret-file "$F/secrets/jwt.secret" >"$F/secrets/worker.token"
chmod 600 "$F/secrets/"*.token

if single_wanted; then
log "gateways on 127.0.0.1:$((GW_BASE + 1)),$((GW_BASE + 2)), nginx on $NGINX_PORT"
bash scripts/gateways.sh start
bash scripts/nginx.sh start
fi

# --- helpers ------------------------------------------------------------------------------------------
PASSED=0 FAILED=0
ROWS=()
declare -A ACKFILES
# Starts the loader for scenario number $1 in the background.
start_load() {
    local n=$1
    "$LOADER_BIN" --url "http://127.0.0.1:$NGINX_PORT" --scenario faults --rate "$RATE" --connections "$CONNECTIONS" \
        --threads 2 --duration "$DURATION" --timeout 5 --quiet --label "fault-$n" --json "$WORK/s$n.json" \
        --ack-log "$WORK/s$n.acks" --pair-prefix "fpair$n-" --pair-count $PAIRS --projects $PROJECTS \
        --user-token-file "$F/secrets/user.token" --worker-token-file "$F/secrets/worker.token" \
        >"$WORK/s$n.out" 2>&1 &
    LOADER_PID=$!
    LOAD_T0=$(now)
}
at_second() { local t; t=$(awk -v t0="$LOAD_T0" -v s="$1" -v n="$(now)" 'BEGIN { d = t0 + s - n; print (d > 0 ? d : 0) }'); sleep "$t"; }
wait_load() { wait "$LOADER_PID" || { cat "$WORK/s$1.out" >&2; LOADER_PID=""; return 1; }; LOADER_PID=""; }
# Lost acknowledged writes (acks.sql) for the given ack files, on the cluster at port $1.
lost_writes() {   # PORT TAG ACKFILE...: the rows go to $WORK/lost-TAG.txt
    local port=$1 tag=$2; shift 2
    cat "$@" >"$WORK/acks-$tag.tsv"
    sql "$port" -c "CREATE TEMP TABLE acks (fn text, k1 text, k2 text, k3 text)" \
        -c "\\copy acks FROM '$WORK/acks-$tag.tsv'" -f benchmarks/faults/acks.sql >"$WORK/lost-$tag.txt"
    wc -l <"$WORK/lost-$tag.txt"
}
violations() { sql "$1" -f benchmarks/faults/invariants.sql >"$WORK/violations-$2.txt"; wc -l <"$WORK/violations-$2.txt"; }
# The loader's figures: requests sent (answered), failures, failure window.
fig() { jq -r "$1" "$WORK/s$2.json"; }
# Seconds (3 decimals) from $1 (unix time) to the last failure, 0 when none came after it.
recovery_after() {
    jq -r --arg t "$1" '.timeline.last_failure_unix // 0 | . - ($t | tonumber) | if . < 0 then 0 else . end | . * 1000 | round / 1000' "$WORK/s$2.json"
}
# Fewest 2xx answers in any whole second of the measured run (service continued when > 0).
min_ok_per_second() {
    jq -r '[.timeline.ok | . as $b | range(0; ($b | length) / 10 | floor) as $s | $b[$s * 10:($s + 1) * 10] | add] | min // 0' "$WORK/s$1.json"
}
# Records a scenario: name, figures, checks ("label=ok|fail" ...).
record() {
    local n=$1 name=$2 requests=$3 acked=$4 failures=$5 window=$6 recovery=$7 lost=$8 viol=$9; shift 9
    local result=pass check bad=()
    for check in "$@"; do [ "${check##*=}" = ok ] || { result=FAIL; bad+=("${check%=*}"); }; done
    [ "$lost" = 0 ] || { result=FAIL; bad+=("lost writes"); }
    [ "$viol" = 0 ] || { result=FAIL; bad+=("invariants"); }
    if [ $result = pass ]; then PASSED=$((PASSED + 1)); else FAILED=$((FAILED + 1)); fi
    printf '  %s: requests %s, acknowledged writes %s, failures %s over %s s, recovery %s s, lost writes %s, invariant violations %s -> %s%s\n' \
        "$name" "$requests" "$acked" "$failures" "$window" "$recovery" "$lost" "$viol" "$result" \
        "$([ ${#bad[@]} -gt 0 ] && echo " (${bad[*]})")"
    ROWS+=("| $n | $name | $requests | $acked | $failures | $window | $recovery | $lost | $viol | $result${bad:+ (${bad[*]})} |")
}
ready_gateway() {   # waits (<= 10 s) until gateway $1 answers /ready; prints seconds since $2
    for _ in $(seq 200); do
        curl -fsS -o /dev/null "http://127.0.0.1:$((GW_ADMIN_BASE + $1))/ready" 2>/dev/null && { awk -v a="$2" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; return 0; }
        sleep 0.05
    done
    echo never; return 1
}
# One POST through nginx while the database is down: "status retry-after".
probe_down() {
    curl -s -o /dev/null -D "$WORK/probe.headers" -w '%{http_code}' -X POST "http://127.0.0.1:$NGINX_PORT/rpc/add_widget" \
        -H 'Content-Type: application/json' -d '{"widget_sn":"faults-probe","widget_name":"x","slots":[]}' || true
    printf ' %s' "$(grep -i '^retry-after:' "$WORK/probe.headers" | tr -d '\r' | awk '{ print $2 }')"
}
NOTES=()

if single_wanted; then
# --- 1: kill -9 one gateway ---------------------------------------------------------------------------
if want kill; then
log "scenario 1: kill -9 gateway 1 under load ($RATE req/s, $CONNECTIONS connections, $DURATION s)"
pid2=$(pid_of 2)
start_load 1
at_second "$FAULT_AT"
victim=$(pid_of 1)
kill -KILL "$victim"
t_kill=$(now)
for _ in $(seq 200); do [ "$(pid_of 1)" != "$victim" ] && break; sleep 0.05; done
restart=$(ready_gateway 1 "$t_kill") || true
wait_load 1
requests=$(fig '.requests' 1); acked=$(fig '.timeline.acknowledged_writes' 1)
failures=$(fig '.timeline.failures' 1); window=$(fig '.timeline.failure_window_seconds * 1000 | round / 1000' 1)
lost=$(lost_writes $PRIMARY_PORT 1 "$WORK/s1.acks"); viol=$(violations $PRIMARY_PORT 1)
minok=$(min_ok_per_second 1)
NOTES+=("1: gateway pid $victim killed; supervisor started pid $(pid_of 1), ready after $restart s; failures $failures <= $CONNECTIONS requests in flight at most; fewest 2xx in a second: $minok; other gateway pid unchanged: $([ "$(pid_of 2)" = "$pid2" ] && echo yes || echo no)")
record 1 "kill -9 gateway" "$requests" "$acked" "$failures" "$window" "$restart (restart)" "$lost" "$viol" \
    "restarted=$([ "$restart" != never ] && [ "$(pid_of 1)" != "$victim" ] && echo ok || echo fail)" \
    "in-flight only=$([ "$failures" -le "$CONNECTIONS" ] && echo ok || echo fail)" \
    "service continued=$([ "$minok" -gt 0 ] && echo ok || echo fail)"
fi

# --- 2, 3: restart PostgreSQL (fast, immediate) ---------------------------------------------------------
pg_restart() {
    local n=$1 mode=$2
    log "scenario $n: PostgreSQL stop -m $mode, down $DOWN s, start, under load"
    local p1 p2 t_down t_stopped t_up probe rec
    p1=$(pid_of 1); p2=$(pid_of 2)
    start_load "$n"
    at_second "$FAULT_AT"
    t_down=$(now)
    pgctl -D "$PRIMARY" -m "$mode" -w stop >/dev/null
    t_stopped=$(now)
    sleep 1
    probe=$(probe_down)
    at_second $((FAULT_AT + DOWN))
    start_primary
    t_up=$(now)
    wait_load "$n"
    rec=$(recovery_after "$t_up" "$n")
    local requests acked failures window lost viol
    requests=$(fig '.requests' "$n"); acked=$(fig '.timeline.acknowledged_writes' "$n")
    failures=$(fig '.timeline.failures' "$n"); window=$(fig '.timeline.failure_window_seconds * 1000 | round / 1000' "$n")
    lost=$(lost_writes $PRIMARY_PORT "$n" "$WORK/s$n.acks"); viol=$(violations $PRIMARY_PORT "$n")
    NOTES+=("$n: $mode shutdown took $(awk -v a="$t_down" -v b="$t_stopped" 'BEGIN { printf "%.2f", b - a }') s, accepting connections again $(awk -v a="$t_down" -v b="$t_up" 'BEGIN { printf "%.2f", b - a }') s after the stop request (start with crash recovery when immediate); probe while down: HTTP ${probe% *}, Retry-After '${probe#* }'; last failure $rec s after PostgreSQL accepted connections again; status counts $(jq -c .status "$WORK/s$n.json"); gateway pids $p1 $p2 -> $(pid_of 1) $(pid_of 2)")
    record "$n" "PostgreSQL restart ($mode)" "$requests" "$acked" "$failures" "$window" "$rec" "$lost" "$viol" \
        "503 + Retry-After=$([ "${probe% *}" = 503 ] && [ -n "${probe#* }" ] && echo ok || echo fail)" \
        "recovered within 2 s=$(awk -v r="$rec" 'BEGIN { print (r <= 2.0 ? "ok" : "fail") }')" \
        "no gateway restart=$([ "$(pid_of 1)" = "$p1" ] && [ "$(pid_of 2)" = "$p2" ] && echo ok || echo fail)"
}
if want pg-restart; then
    pg_restart 2 fast
    pg_restart 3 immediate
fi

# --- 5: kill the gateway holding an allocation sent as GET ---------------------------------------------
# Without load: the one allocation is followed from the client to the database.
if want held-allocation; then
log "scenario 5: kill -9 the gateway holding a VM allocation sent as GET /vms/v1/server (slowed 3 s by a test-only trigger)"
sql $PRIMARY_PORT -f benchmarks/faults/slow_allocation.sql
curl -s -o "$WORK/s5.body" -w '%{http_code}' --max-time 30 -H "Authorization: Bearer $(cat "$F/secrets/user.token")" \
    "http://127.0.0.1:$NGINX_PORT/vms/v1/server?ram=1024&cpu=1" >"$WORK/s5.status" 2>/dev/null &
curl_pid=$!
holder=""
for _ in $(seq 200); do
    holder=$(sql $PRIMARY_PORT -c "SELECT application_name FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND application_name LIKE 'gateway-%' LIMIT 1")
    [ -n "$holder" ] && break
    sleep 0.05
done
n=${holder#gateway-} victim=none t_kill=$(now)
if [ -n "$holder" ]; then victim=$(pid_of "$n"); kill -KILL "$victim"; t_kill=$(now); fi
wait "$curl_pid" || true
status=$(cat "$WORK/s5.status" 2>/dev/null || echo none)
# The killed gateway's backend ends its sleep (and commits or not); after that nothing more may arrive.
for _ in $(seq 200); do
    [ "$(sql $PRIMARY_PORT -c "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep'")" = 0 ] && break
    sleep 0.05
done
attempts=$(sql $PRIMARY_PORT -c "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM faults_test.vm_attempts")
sql $PRIMARY_PORT -c "SET client_min_messages = warning" -c "DROP SCHEMA faults_test CASCADE"
restart=never
[ -n "$holder" ] && { restart=$(ready_gateway "$n" "$t_kill") || true; }
viol=$(violations $PRIMARY_PORT 5)
ok2xx=$([ "${status:0:1}" = 2 ] && echo 1 || echo 0)
NOTES+=("5: the allocation was held by ${holder:-no gateway} (pid $victim, killed); it reached the database $attempts time(s); the client got HTTP $status: $(head -c 160 "$WORK/s5.body" 2>/dev/null | tr '\n' ' ')")
record 5 "kill -9 gateway holding a VM allocation" 1 "$ok2xx" "$((1 - ok2xx))" 0 "$restart (restart)" 0 "$viol" \
    "a gateway held it=$([ -n "$holder" ] && echo ok || echo fail)" \
    "sent once=$([ "$attempts" = 1 ] && echo ok || echo fail)" \
    "client got 502=$([ "$status" = 502 ] && echo ok || echo fail)" \
    "restarted=$([ "$restart" != never ] && echo ok || echo fail)"
fi

# --- 6: clients retrying POSTs with Idempotency-Key across a gateway kill and a PostgreSQL restart ----------
# 16 clients pace new keys over about 10 s (20 each, one each 0.5 s; each call
# takes 0.3 s, so about 10 are in flight at any time) and retry each until a 2xx; gateway 1 is killed at
# second 3, PostgreSQL stopped (fast) at second 7 for $DOWN s.
if want idempotency; then
log "scenario 6: Idempotency-Key retries across kill -9 of gateway 1 (second 3) and a PostgreSQL restart (second 7)"
sql $PRIMARY_PORT -f benchmarks/faults/idempotency.sql
for _ in $(seq 100); do   # the gateways' schema caches have the function
    code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$NGINX_PORT/rpc/faults_apply_once" \
        -H "Authorization: Bearer $(cat "$F/secrets/user.token")" -H 'Content-Type: application/json' -d '{"tag":"faults-warmup"}' || true)
    [ "$code" = 200 ] && break
    sleep 0.1
done
sql $PRIMARY_PORT -c "DELETE FROM faults_idem.applied"
IDEM_T0=$(now)
python3 benchmarks/faults/idempotent_client.py --url "http://127.0.0.1:$NGINX_PORT" --token-file "$F/secrets/user.token" \
    --prefix "idem-$STAMP" --keys 320 --clients 16 --every 0.5 --deadline 45 --acks "$WORK/s6.acks" >"$WORK/s6.json" 2>"$WORK/s6.err" &
client_pid=$!
sleep 3
victim=$(pid_of 1)
kill -KILL "$victim"
t_kill=$(now)
restart=$(ready_gateway 1 "$t_kill") || true
awk -v t0="$IDEM_T0" -v n="$(now)" 'BEGIN { d = t0 + 7 - n; if (d > 0) system("sleep " d) }'
pgctl -D "$PRIMARY" -m fast -w stop >/dev/null
sleep "$DOWN"
start_primary
t_up=$(now)
wait "$client_pid" || { cat "$WORK/s6.err" >&2; true; }
keys=$(jq -r '.keys' "$WORK/s6.json"); acked=$(jq -r '.acknowledged' "$WORK/s6.json")
attempts=$(jq -r '.attempts' "$WORK/s6.json"); replayed=$(jq -r '.replayed' "$WORK/s6.json")
failures=$((attempts - acked))
sql $PRIMARY_PORT -c "CREATE TEMP TABLE acks (key text, status int, replayed boolean, attempts int)" \
    -c "\\copy acks FROM '$WORK/s6.acks'" -f benchmarks/faults/idempotency_check.sql >"$WORK/violations-6.txt"
viol=$(wc -l <"$WORK/violations-6.txt")
applied=$(sql $PRIMARY_PORT -c "SELECT count(DISTINCT tag) FROM faults_idem.applied WHERE tag LIKE 'idem-$STAMP-%'")
rows=$(sql $PRIMARY_PORT -c "SELECT count(*) FROM faults_idem.applied WHERE tag LIKE 'idem-$STAMP-%'")
sql $PRIMARY_PORT -c "SET client_min_messages = warning" -c "DROP FUNCTION api.faults_apply_once(text)" \
    -c "DROP SCHEMA faults_idem CASCADE" -c "NOTIFY pgrst, 'reload schema'"
NOTES+=("6: $keys keys, $acked acknowledged (2xx) after $attempts attempts ($replayed of them a replay: the first answer of an attempt that committed unanswered); statuses $(jq -c .statuses "$WORK/s6.json"); gateway pid $victim killed, ready again after $restart s; PostgreSQL stopped (fast) and started again; $rows rows for $applied distinct keys in the database; client done in $(jq -r .seconds "$WORK/s6.json") s")
record 6 "Idempotency-Key retries across kill -9 and PostgreSQL restart" "$attempts" "$acked" "$failures" - "$restart (restart)" \
    "$((keys - acked))" "$viol" \
    "every key acknowledged=$([ "$acked" = "$keys" ] && echo ok || echo fail)" \
    "applied exactly once=$([ "$viol" = 0 ] && [ "$rows" = "$applied" ] && [ "$applied" = "$keys" ] && echo ok || echo fail)" \
    "faults hit requests=$([ "$failures" -gt 0 ] && echo ok || echo fail)"
fi
fi

# --- 11-15: high availability (Patroni over etcd; benchmarks/faults/ha.sh) -------------------------------
if want ha; then ha_scenarios; fi

# --- report ---------------------------------------------------------------------------------------------
{
    echo "# Fault suite $STAMP"
    echo
    echo "\`make faults\` (benchmarks/faults/run.sh): open-loop load of $RATE req/s over $CONNECTIONS connections through nginx"
    echo "(:$NGINX_PORT) to 2 gateways, $DURATION s per scenario, fault at second $FAULT_AT; loader scenario \`faults\` (60% add_widget,"
    echo "15% associate_widgets, 10% allocate_vm, 10% acquire_node, 5% claim_build). Failures = non-2xx answers + transport errors;"
    echo "window = first to last failure; recovery = last failure after the restart/promotion (scenario 1: gateway ready again)."
    echo "PostgreSQL held down about $DOWN s in scenarios 2-3 and 6. Scenario 5 sends one VM allocation (GET /vms/v1/server), no load."
    echo "Scenario 6: 16 clients, 320 Idempotency-Keys, each retried until a 2xx; lost writes = keys never acknowledged, invariant"
    echo "violations = keys applied more than once or acknowledged without being applied.${ONLY:+ Scenarios run: $ONLY.}"
    echo "Scenarios 11-15: $HA_DURATION s each, on 3 PostgreSQL members under Patroni (ttl 12 s, loop_wait 2 s, synchronous_mode_strict);"
    echo "recovery = first acknowledged write after the fault and the longest time without one (pause), or the rejoin time."
    echo "Gateway: \`${GATEWAY_BIN#"$ROOT"/}\`; host load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
    echo
    echo "| # | scenario | requests | acknowledged writes | failures | window s | recovery s | lost writes | invariant violations | result |"
    echo "|---|---|---:|---:|---:|---:|---|---:|---:|---|"
    printf '%s\n' "${ROWS[@]}"
    echo
    printf -- '- %s\n' "${NOTES[@]}"
    echo
    echo "$PASSED passed, $FAILED failed"
} >"$REPORT"
printf '%s\n' "${NOTES[@]}" | sed 's/^/  /'
log "report: $REPORT (loader output and ack logs: $WORK)"
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
