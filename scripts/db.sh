#!/usr/bin/env bash
# The project's PostgreSQL 15 cluster under .data/: init (once), start, stop, status.
# Runs as the `postgres` OS user, since PostgreSQL refuses to run as root.
set -euo pipefail
source "$(dirname "$0")/env.sh"

running() { [ -f "$PGDATA_DIR/postmaster.pid" ] && as_postgres "$PGBIN/pg_ctl" -D "$PGDATA_DIR" status >/dev/null 2>&1; }

# The postgres user must reach the checkout; open traversal (x) on parent folders if it cannot.
ensure_traversable() {
    local dir="$ROOT"
    while [ "$dir" != "/" ]; do
        as_postgres test -x "$dir" 2>/dev/null || { log "allowing postgres to traverse $dir"; chmod o+x "$dir"; }
        dir=$(dirname "$dir")
    done
}

init() {
    mkdir -p "$DATA_DIR" "$LOG_DIR"
    ensure_traversable
    if [ ! -s "$PGDATA_DIR/PG_VERSION" ]; then
        log "creating PostgreSQL 15 cluster in $PGDATA_DIR"
        install -d -o postgres -g postgres -m 700 "$PGDATA_DIR"
        as_postgres "$PGBIN/initdb" -D "$PGDATA_DIR" -U postgres --encoding=UTF8 --locale=C.UTF-8 \
            --auth-local=trust --auth-host=scram-sha-256 >"$LOG_DIR/initdb.log"
        echo "include_if_exists = 'project.conf'" >>"$PGDATA_DIR/postgresql.conf"
    fi
    install -d -o postgres -g postgres -m 755 "$SOCKET_DIR"
    chown postgres:postgres "$LOG_DIR"
    # Settings are versioned in config/postgresql.conf and refreshed on every start.
    install -o postgres -g postgres -m 600 "$ROOT/config/postgresql.conf" "$PGDATA_DIR/project.conf"
}

start() {
    init
    if running; then log "PostgreSQL already running on port $DB_PORT"; return; fi
    log "starting PostgreSQL on 127.0.0.1:$DB_PORT and $SOCKET_DIR"
    as_postgres "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -l "$LOG_DIR/postgresql.log" -w -t 60 \
        -o "-p $DB_PORT -k $SOCKET_DIR" start >/dev/null || { tail -20 "$LOG_DIR/postgresql.log" >&2; die "PostgreSQL did not start"; }
    as_postgres "$PGBIN/psql" -h "$SOCKET_DIR" -p "$DB_PORT" -d postgres -qtAc \
        "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'" | grep -q 1 \
        || as_postgres "$PGBIN/createdb" -h "$SOCKET_DIR" -p "$DB_PORT" "$DB_NAME"
}

stop() {
    if running; then
        log "stopping PostgreSQL"
        as_postgres "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -m fast -w stop >/dev/null
    fi
}

case "${1:-}" in
    init) init ;;
    start) start ;;
    stop) stop ;;
    status) if running; then echo "PostgreSQL running on port $DB_PORT"; else echo "PostgreSQL stopped"; exit 3; fi ;;
    *) die "usage: scripts/db.sh init|start|stop|status" ;;
esac
