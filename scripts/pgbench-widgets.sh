#!/usr/bin/env bash
# Runs the widgets pgbench scripts (benchmarks/pgbench/widgets_*.sql) against a database seeded with
# scripts/seed-widgets.sh, calling the api functions directly as web_anon (no gateway): the ceiling the
# HTTP benchmarks are compared with. Prints tps and mean latency per script and writes them to
# benchmarks/results/pgbench-widgets-<timestamp>.md.
# usage: scripts/pgbench-widgets.sh [-c CLIENTS] [-j THREADS] [-T SECONDS] [-d DBNAME] [SCRIPT...]
#   e.g. scripts/pgbench-widgets.sh -c 16 -T 10          (scripts: add, assoc_mix, get; default all)
set -euo pipefail
source "$(dirname "$0")/env.sh"
clients=16 threads=2 seconds=10 db=$DB_NAME
while getopts "c:j:T:d:h" opt; do
    case $opt in
        c) clients=$OPTARG ;; j) threads=$OPTARG ;; T) seconds=$OPTARG ;; d) db=$OPTARG ;;
        *) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
scripts=("${@:-add assoc_mix get}")
read -r -a scripts <<<"${scripts[*]}"
uri=$(admin_uri "$db")
cd "$ROOT"
[ "$threads" -le "$clients" ] || threads=$clients

# The seeded widgets are 'seed-1' .. 'seed-<n>' (see benchmarks/seed/seed-widgets.sql).
n=$(psql -X -At "$uri" -c "SELECT count(*) FROM widgets.widgets WHERE serial_number >= 'seed-' AND serial_number < 'seed.'" 2>/dev/null) \
    || die "database $db has no widgets tables"
[ "$n" -ge $((20 * clients)) ] || die "database $db has $n seeded widgets; run scripts/seed-widgets.sh first"

stamp=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p benchmarks/results .data/bench
out=".data/bench/pgbench-widgets-$stamp.txt"
{
    echo "pgbench-widgets: $db ($n seeded widgets), $clients clients, $threads threads, ${seconds}s each, $(date -u +%FT%TZ)"
    printf '%-12s %8s %10s %12s %10s\n' script clients tps "api calls/s" "lat ms"
} | tee "$out"
for name in "${scripts[@]}"; do
    file="benchmarks/pgbench/widgets_$name.sql"
    [ -f "$file" ] || die "no such script: $file"
    calls=1; [ "$name" = assoc_mix ] && calls=2
    # Every connection acts as web_anon (as the gateway does per request), so the grants are exercised.
    result=$(PGOPTIONS="-c role=web_anon" pgbench -n -M prepared -c "$clients" -j "$threads" -T "$seconds" \
        -D n="$n" -D clients="$clients" -D run="$(date +%s%N)" -D seq=0 -f "$file" "$uri" 2>&1) \
        || { echo "$result" >&2; die "pgbench failed on $file"; }
    tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' <<<"$result")
    lat=$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' <<<"$result")
    failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' <<<"$result")
    grep -q "aborted in command" <<<"$result" && { echo "$result" >&2; die "a client aborted in $file"; }
    printf '%-12s %8s %10.0f %12.0f %10s\n' "$name" "$clients" "$tps" "$(echo "$tps * $calls" | bc)" "$lat" | tee -a "$out"
    [ -z "$failed" ] || [ "$failed" = 0 ] || log "$name: $failed failed transactions"
done
record="benchmarks/results/pgbench-widgets-$stamp.md"
markdown_record "pgbench-widgets $stamp" "$out" "$record"
log "written to $record"
