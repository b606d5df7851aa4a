#!/usr/bin/env bash
# Fills the widgets tables with N generated widgets (default 10,000,000; ~2 slots each, ~30% of slots
# associated), set-based, REPLACING every widget in the database. See benchmarks/seed/seed-widgets.sql
# for the data's shape. Prints the elapsed time and table/index sizes and writes them to
# benchmarks/results/seed-widgets-<timestamp>.md.
# usage: scripts/seed-widgets.sh [N] [DBNAME]      (`make seed-widgets N=...`; default database: platform)
set -euo pipefail
source "$(dirname "$0")/env.sh"
n=${1:-10000000}
db=${2:-$DB_NAME}
[[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] || die "N must be a positive integer (got '$n')"
uri=$(admin_uri "$db")
cd "$ROOT"
psql -X -q -At "$uri" -c "SELECT to_regclass('widgets.slots')" | grep -q slots \
    || die "database $db has no widgets tables: run the migrations first (make migrate)"

stamp=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p benchmarks/results .data/bench
out=".data/bench/seed-widgets-$stamp.txt"
log "seeding $n widgets into $db (replaces all widgets)"
start=$(date +%s.%N)
# The server runs the row producers (COPY FROM PROGRAM, as the postgres OS user): quote the URI for its shell.
psql -X -q -v n="$n" -v producer_uri="'$uri'" -v seed_dir="$ROOT/benchmarks/seed" "$uri" \
    -f benchmarks/seed/seed-widgets.sql | sed -n 's/^Time: /    /p; s/^step: /  /p' >&2
loaded=$(date +%s.%N)
log "VACUUM (ANALYZE): hint bits, visibility map and statistics, so the first benchmark does not pay for them"
psql -X -q "$uri" -c "VACUUM (ANALYZE) widgets.widgets, widgets.slots"
end=$(date +%s.%N)

{
    echo "seed-widgets: $n widgets into database $db on $(hostname), $(date -u +%FT%TZ)"
    echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB RAM; $(psql -X -At "$uri" -c 'SHOW server_version')"
    printf 'elapsed: %.1f s total (load + keys + foreign keys: %.1f s, vacuum analyze: %.1f s)\n' \
        "$(echo "$end - $start" | bc)" "$(echo "$loaded - $start" | bc)" "$(echo "$end - $loaded" | bc)"
    psql -X -P footer=off "$uri" <<'SQL'
SELECT (SELECT count(*) FROM widgets.widgets) AS widgets,
       count(*) AS slots,
       round(count(*)::numeric / greatest((SELECT count(*) FROM widgets.widgets), 1), 2) AS slots_per_widget,
       count(partner_id) AS associated_slots,
       round(100.0 * count(partner_id) / greatest(count(*), 1), 1) AS pct_associated
FROM widgets.slots;
SELECT c.relname AS relation, CASE c.relkind WHEN 'i' THEN 'index' ELSE 'table' END AS kind,
       pg_size_pretty(pg_relation_size(c.oid)) AS size
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'widgets' AND c.relkind IN ('r', 'i')
ORDER BY c.relkind DESC, pg_relation_size(c.oid) DESC;
SELECT pg_size_pretty(sum(pg_table_size(c.oid))) AS tables_total,
       pg_size_pretty(sum(pg_indexes_size(c.oid))) AS indexes_total,
       pg_size_pretty(sum(pg_total_relation_size(c.oid))) AS total
FROM pg_class c WHERE c.oid IN ('widgets.widgets'::regclass, 'widgets.slots'::regclass);
SQL
} | tee "$out"
record="benchmarks/results/seed-widgets-$stamp.md"
markdown_record "seed-widgets $stamp" "$out" "$record"
log "written to $record"
