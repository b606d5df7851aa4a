#!/usr/bin/env bash
# Instructions per request of the gateway, counted by valgrind's callgrind: a figure that does not move
# with the machine's load, for comparing two builds of the request path (`make bench` measures time).
#   bash benchmarks/instructions.sh [scenario ...]     (default: widgets-get widgets-add; needs make up)
# For each scenario: a release gateway (GATEWAY_BIN, default .build/release/gateway, its debug info
# stripped into a copy: valgrind cannot read Swift's) with one event loop and log-level error, on its own
# ports (INSTR_PORT, default 3201; admin +100) against the local database, under callgrind; the loader
# sends 500 calls of warm-up, the counters are zeroed, then INSTR_REQUESTS (5000) calls on 8 connections.
# Prints instructions per request, with and without libmicrohttpd's memset of its connection pool
# (valgrind counts `rep stosb` once per byte, which overstates what it costs). The gateway is stopped
# afterwards; the callgrind output stays in .data/instructions/<stamp>/ for callgrind_annotate.
set -euo pipefail
source "$(dirname "$0")/../scripts/env.sh"
cd "$ROOT"
command -v valgrind >/dev/null || { log "installing valgrind"; apt-get install -y -qq valgrind >/dev/null; }
REQUESTS=${INSTR_REQUESTS:-5000}
PORT=${INSTR_PORT:-3201}
ADMIN=$((PORT + 100))
LOADER="$ROOT/benchmarks/loader/.build/release/loader"
[ -x "$LOADER" ] || swift build -c release --package-path benchmarks/loader >/dev/null
[ -x "$GATEWAY_BIN" ] || die "no gateway at $GATEWAY_BIN (make build)"
curl -fsS -o /dev/null "http://127.0.0.1:$ADMIN/live" 2>/dev/null && die "port $ADMIN is in use"
seeded=$(psql -X -qtA "$(admin_uri)" -c "SELECT count(*) FROM widgets.widgets WHERE serial_number LIKE 'seed-%'")
[ "$seeded" -ge 2000 ] || bash scripts/seed-widgets.sh 2000 >/dev/null
WORK="$DATA_DIR/instructions/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$WORK"
cp "$GATEWAY_BIN" "$WORK/gateway" && strip --strip-debug "$WORK/gateway"
{ grep -vE '^(server-port|admin-server-port|server-threads|log-level) ' "$DATA_DIR/gateway-1.conf"
  printf 'server-port = %s\nadmin-server-port = %s\nserver-threads = 1\nlog-level = "error"\n' "$PORT" "$ADMIN"; } >"$WORK/gateway.conf"
pid=
stop() { [ -z "$pid" ] || { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=; }; }
trap stop EXIT
for scenario in "${@:-widgets-get widgets-add}"; do
  for scenario in $scenario; do
    out="$WORK/callgrind-$scenario.out"
    valgrind --tool=callgrind --callgrind-out-file="$out" --dump-instr=no "$WORK/gateway" "$WORK/gateway.conf" \
        >"$WORK/gateway-$scenario.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 120); do curl -fsS -o /dev/null "http://127.0.0.1:$ADMIN/ready" 2>/dev/null && break; sleep 1; done
    args=(--url "http://127.0.0.1:$PORT" --scenario "$scenario" --seed-prefix seed- --seed-count 2000 --connections 8)
    timeout 300 "$LOADER" "${args[@]}" --requests 500 >/dev/null
    callgrind_control -z "$pid" >/dev/null 2>&1
    timeout 600 "$LOADER" "${args[@]}" --requests "$REQUESTS" >"$WORK/loader-$scenario.txt"
    callgrind_control -d "$pid" >/dev/null 2>&1
    sleep 2
    stop
    python3 - "$scenario" "$REQUESTS" "$out".* <<'PY'
import re, sys
scenario, requests, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
names, total, memset, fn, call = {}, 0, 0, None, False
for line in open(path):
    m = re.match(r'^(c?)fn=\((\d+)\)(?: (.*))?$', line)
    if m:
        if m.group(3): names[m.group(2)] = m.group(3)
        if not m.group(1): fn = m.group(2)
        continue
    if line.startswith('calls='): call = True; continue
    if line[:1].isdigit() or line[:1] in '+-*':
        if call: call = False; continue
        cost = int(line.split()[1]); total += cost
        if 'memset' in names.get(fn, ''): memset += cost
print(f"{scenario}: {total / requests:,.0f} instructions per request; without libmicrohttpd's memset {(total - memset) / requests:,.0f}")
PY
  done
done
log "callgrind output: $WORK (callgrind_annotate --inclusive=yes $WORK/callgrind-widgets-get.out.1)"
