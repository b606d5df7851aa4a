#!/usr/bin/env bash
# Streams about 1 GB of function result through one gateway to curl (to /dev/null) and reports how much
# the gateway's resident memory grew meanwhile (VmRSS of its process, sampled every 50 ms): the
# memory a streamed answer costs is bounded, whatever its size (docs/streaming.md).
# usage: benchmarks/stream-rss.sh [DBNAME] [ROWS] [WIDTH]
#   DBNAME: a migrated database of the local cluster (default: the main one); ROWS x WIDTH bytes of
#   text are sent (default 1,000,000 x 1,000, about 1.03 GB of JSON). GATEWAY_BIN picks the binary
#   (default .build/release/gateway; .build/debug/gateway works too). Uses the schema stream_bench, which
#   it creates and drops, called as web_anon with `Prefer: timeout=600` (web_anon's own 5 s would cut a
#   1 GB answer; db-max-timeout is raised to allow it), and two free ports on 127.0.0.1.
set -euo pipefail
source "$(dirname "$0")/../scripts/env.sh"
db=${1:-$DB_NAME}
rows=${2:-1000000}
width=${3:-1000}
[ -x "$GATEWAY_BIN" ] || die "no gateway binary at $GATEWAY_BIN (build it, or set GATEWAY_BIN)"
command -v curl >/dev/null || die "curl is needed"

psql -X -q -v ON_ERROR_STOP=1 "$(admin_uri "$db")" <<'SQL'
DROP SCHEMA IF EXISTS stream_bench CASCADE;
CREATE SCHEMA stream_bench;
GRANT USAGE ON SCHEMA stream_bench TO web_anon;
-- An SQL function PostgreSQL inlines into the query: its rows are sent as they are made.
CREATE FUNCTION stream_bench.rows(n int, width int) RETURNS TABLE(id int, pad text)
  LANGUAGE sql STABLE AS $$ SELECT g, repeat('x', width) FROM generate_series(1, n) g $$;
GRANT EXECUTE ON FUNCTION stream_bench.rows(int, int) TO web_anon;
SQL

work=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
admin=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$work/gateway.conf" <<EOF
db-uri = "postgresql://authenticator@/$db?host=$SOCKET_DIR&port=$DB_PORT"
db-schemas = "stream_bench"
db-anon-role = "web_anon"
db-max-timeout = 600
db-pool = 2
server-threads = 1
server-port = $port
admin-server-port = $admin
EOF
"$GATEWAY_BIN" serve "$work/gateway.conf" > "$work/gateway.log" 2>&1 &
pid=$!
cleanup() {
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    psql -X -q "$(admin_uri "$db")" -c 'DROP SCHEMA IF EXISTS stream_bench CASCADE' || true
    rm -rf "$work"
}
trap cleanup EXIT
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$admin/ready" >/dev/null && break
    sleep 0.1
done
curl -sf "http://127.0.0.1:$admin/ready" >/dev/null || { cat "$work/gateway.log"; die "the gateway did not become ready"; }
curl -s -o /dev/null "http://127.0.0.1:$port/rpc/rows?n=1000&width=$width"      # warm up (statements prepared)

rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status"; }
before=$(rss)
( max=$before
  while kill -0 "$pid" 2>/dev/null && [ ! -e "$work/done" ]; do
      now=$(rss); [ "$now" -gt "$max" ] && max=$now
      echo "$max" > "$work/max"
      sleep 0.05
  done ) &
sampler=$!
started=$(date +%s.%N)
curl -s -o /dev/null -D "$work/head" -w '%{size_download}\n' -H 'Prefer: timeout=600' \
    "http://127.0.0.1:$port/rpc/rows?n=$rows&width=$width" > "$work/size"
ended=$(date +%s.%N)
touch "$work/done"
wait "$sampler"
max=$(cat "$work/max")
size=$(cat "$work/size")
grep -qi '^transfer-encoding: chunked' "$work/head" || die "the answer was not streamed: $(cat "$work/head")"
awk -v b="$before" -v m="$max" -v s="$size" -v t0="$started" -v t1="$ended" 'BEGIN {
    printf "streamed %.2f GB in %.1f s (%.0f MB/s)\n", s / 1e9, t1 - t0, s / 1e6 / (t1 - t0)
    printf "gateway VmRSS: %.1f MB before, %.1f MB at most, growth %.1f MB (bound: 64 MB)\n", b / 1024, m / 1024, (m - b) / 1024
    exit (m - b > 65536) }'
