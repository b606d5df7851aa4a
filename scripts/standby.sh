#!/usr/bin/env bash
# A streaming standby of a local PostgreSQL 15 primary: create | start | stop | promote | status | destroy.
#
#   PRIMARY_PORT=55432 PRIMARY_DIR=.data/pg STANDBY_DIR=.data/standby STANDBY_PORT=55433 SYNC=off \
#       bash scripts/standby.sh create
#
# Settings (environment; the interface is stable):
#   PRIMARY_PORT        port of the primary (default: the project's cluster, $PLATFORM_DB_PORT or 55432)
#   PRIMARY_DIR         data folder of the primary (default .data/pg); its postmaster.pid names its socket folder
#   PRIMARY_HOST        where to reach the primary (default: its unix socket folder, from PRIMARY_DIR/postmaster.pid);
#                       the replication connection is made as `postgres` over that socket (trusted, no password)
#   STANDBY_DIR         data folder of the standby (default .data/standby); created by `create`, owned by postgres
#   STANDBY_PORT        port of the standby, on 127.0.0.1 and its unix socket (default 55433)
#   STANDBY_SOCKET_DIR  unix socket folder of the standby (default: the primary's socket folder)
#   STANDBY_NAME        application_name and replication slot name (default standby_<STANDBY_PORT>)
#   STANDBY_LOG         server log (default .data/log/standby-<STANDBY_PORT>.log)
#   STANDBY_SHARED_BUFFERS  shared_buffers of the standby (default 256MB; the rest of the primary's settings are kept)
#   SYNC                on | off (default off). on: the primary's synchronous_standby_names is set to this standby
#                       (ALTER SYSTEM + reload), so every commit on the primary waits for the standby's flush;
#                       off: asynchronous streaming, the primary's settings are not touched.
#   STOP_MODE           fast | immediate | smart for `stop` (default fast)
#
# Commands:
#   create   pg_basebackup -R with a new physical replication slot (-C -S STANDBY_NAME) from the primary, then
#            start the standby and wait until it streams (and, with SYNC=on, until the primary reports it as
#            `sync`). If STANDBY_DIR already holds a cluster, it is only started. The standby's copy of
#            synchronous_standby_names is cleared, so that once promoted it does not wait for a standby it lacks.
#   start    start the standby (pg_ctl -w); while it is still a standby, waits until it streams
#   stop     stop it (STOP_MODE). With SYNC=on the primary's commits wait while the standby is down.
#   promote  pg_ctl promote -w: the standby becomes a read-write primary (timeline + 1); prints the time taken
#   status   key=value lines: running, in_recovery, receiver (wal receiver status), sync_state (as seen by the
#            primary), replay_lag_bytes; exit 0 if running, 3 if not
#   destroy  stop it (immediate), drop its replication slot on the primary (a forgotten slot keeps WAL forever),
#            reset the primary's synchronous_standby_names if it names this standby, delete STANDBY_DIR
#
# PostgreSQL refuses to run as root: every server command runs as the `postgres` OS user (runuser), like
# scripts/db.sh. Everything listens on 127.0.0.1 and unix sockets only.
set -euo pipefail
source "$(dirname "$0")/env.sh"

PRIMARY_PORT=${PRIMARY_PORT:-$DB_PORT}
PRIMARY_DIR=${PRIMARY_DIR:-$PGDATA_DIR}
STANDBY_DIR=${STANDBY_DIR:-$DATA_DIR/standby}
STANDBY_PORT=${STANDBY_PORT:-55433}
STANDBY_NAME=${STANDBY_NAME:-standby_$STANDBY_PORT}
STANDBY_LOG=${STANDBY_LOG:-$LOG_DIR/standby-$STANDBY_PORT.log}
STANDBY_SHARED_BUFFERS=${STANDBY_SHARED_BUFFERS:-256MB}
SYNC=${SYNC:-off}
STOP_MODE=${STOP_MODE:-fast}
case "$SYNC" in on|off) ;; *) die "SYNC must be on or off (got '$SYNC')" ;; esac
case "$STANDBY_NAME" in *[!a-z0-9_]*|"") die "STANDBY_NAME must be lower-case letters, digits and _ (a slot name)" ;; esac
[ "$STANDBY_PORT" != "$PRIMARY_PORT" ] || die "STANDBY_PORT must differ from PRIMARY_PORT"
# Absolute paths: pg_ctl runs as postgres from another working directory.
abs() { case "$1" in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
PRIMARY_DIR=$(abs "$PRIMARY_DIR"); STANDBY_DIR=$(abs "$STANDBY_DIR"); STANDBY_LOG=$(abs "$STANDBY_LOG")

primary_host() {
    if [ -n "${PRIMARY_HOST:-}" ]; then echo "$PRIMARY_HOST"; return; fi
    local pidfile="$PRIMARY_DIR/postmaster.pid"
    [ -r "$pidfile" ] || die "primary is not running ($pidfile missing); set PRIMARY_HOST to reach it otherwise"
    sed -n 5p "$pidfile"                      # line 5: the first unix socket folder
}
standby_socket_dir() { echo "${STANDBY_SOCKET_DIR:-$(primary_host 2>/dev/null || echo "$SOCKET_DIR")}"; }
psql_primary() { psql -X -qAt -h "$(primary_host)" -p "$PRIMARY_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 "$@"; }
psql_standby() { psql -X -qAt -h "$(standby_socket_dir)" -p "$STANDBY_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 "$@"; }
pg_ctl_standby() { as_postgres "$PGBIN/pg_ctl" -D "$STANDBY_DIR" "$@"; }
running() { [ -f "$STANDBY_DIR/postmaster.pid" ] && pg_ctl_standby status >/dev/null 2>&1; }

ensure_traversable() {   # the postgres user must reach STANDBY_DIR's parent folders
    local dir; dir=$(dirname "$STANDBY_DIR")
    while [ "$dir" != "/" ]; do
        as_postgres test -x "$dir" 2>/dev/null || { log "allowing postgres to traverse $dir"; chmod o+x "$dir"; }
        dir=$(dirname "$dir")
    done
}

start() {
    [ -s "$STANDBY_DIR/PG_VERSION" ] || die "no standby in $STANDBY_DIR (run create)"
    if running; then log "standby already running on port $STANDBY_PORT"; return; fi
    mkdir -p "$(dirname "$STANDBY_LOG")"; touch "$STANDBY_LOG"; chown postgres:postgres "$STANDBY_LOG"
    local sock; sock=$(standby_socket_dir)
    log "starting standby $STANDBY_NAME on 127.0.0.1:$STANDBY_PORT and $sock"
    pg_ctl_standby -l "$STANDBY_LOG" -w -t 120 -o "-p $STANDBY_PORT -k $sock" start >/dev/null \
        || { tail -20 "$STANDBY_LOG" >&2; die "standby did not start"; }
}

wait_streaming() {
    local i state
    for i in $(seq 300); do
        state=$(psql_standby -c "SELECT status FROM pg_stat_wal_receiver" 2>/dev/null || true)
        [ "$state" = streaming ] && break
        sleep 0.1
    done
    [ "$state" = streaming ] || { tail -20 "$STANDBY_LOG" >&2; die "standby $STANDBY_NAME is not streaming after 30 s"; }
    if [ "$SYNC" = on ] && [ "${1:-}" != streaming-only ]; then
        for i in $(seq 300); do
            state=$(psql_primary -c "SELECT sync_state FROM pg_stat_replication WHERE application_name = '$STANDBY_NAME'" 2>/dev/null || true)
            [ "$state" = sync ] && break
            sleep 0.1
        done
        [ "$state" = sync ] || die "the primary does not report $STANDBY_NAME as sync after 30 s (sync_state '$state')"
    fi
    log "standby $STANDBY_NAME streaming from port $PRIMARY_PORT ($([ "$SYNC" = on ] && echo synchronous || echo asynchronous))"
}

create() {
    if [ -s "$STANDBY_DIR/PG_VERSION" ]; then
        log "$STANDBY_DIR already holds a cluster: starting it"
        start; wait_streaming; return
    fi
    local host; host=$(primary_host)
    ensure_traversable
    install -d -o postgres -g postgres -m 700 "$STANDBY_DIR"
    # A slot left by an earlier standby of the same name would hold old WAL: replace it.
    psql_primary -c "SELECT pg_drop_replication_slot('$STANDBY_NAME') FROM pg_replication_slots WHERE slot_name = '$STANDBY_NAME' AND NOT active" >/dev/null
    log "base backup of port $PRIMARY_PORT into $STANDBY_DIR (slot $STANDBY_NAME)"
    as_postgres "$PGBIN/pg_basebackup" -h "$host" -p "$PRIMARY_PORT" -U postgres -D "$STANDBY_DIR" \
        -X stream -C -S "$STANDBY_NAME" -R -c fast --no-password \
        -d "application_name=$STANDBY_NAME" \
        || { rm -rf "$STANDBY_DIR"; die "pg_basebackup failed"; }
    # The standby's own settings after the primary's (later lines win); the primary's copied auto.conf must
    # not make the standby, once promoted, wait for a synchronous standby of its own.
    sed -i '/^synchronous_standby_names/d' "$STANDBY_DIR/postgresql.auto.conf"
    as_postgres tee "$STANDBY_DIR/standby.conf" >/dev/null <<CONF
# Written by scripts/standby.sh: this standby's own settings.
port = $STANDBY_PORT
cluster_name = '$STANDBY_NAME'
shared_buffers = $STANDBY_SHARED_BUFFERS
hot_standby = on
hot_standby_feedback = on
CONF
    grep -q "^include_if_exists = 'standby.conf'" "$STANDBY_DIR/postgresql.conf" \
        || echo "include_if_exists = 'standby.conf'" | as_postgres tee -a "$STANDBY_DIR/postgresql.conf" >/dev/null
    rm -f "$STANDBY_DIR/postmaster.pid" "$STANDBY_DIR/postmaster.opts"
    start
    if [ "$SYNC" = on ]; then
        log "primary on port $PRIMARY_PORT: synchronous_standby_names = '\"$STANDBY_NAME\"'"
        psql_primary -c "ALTER SYSTEM SET synchronous_standby_names = '\"$STANDBY_NAME\"'" -c "SELECT pg_reload_conf()" >/dev/null
    fi
    wait_streaming
}

stop() {
    running || { log "standby on port $STANDBY_PORT not running"; return 0; }
    log "stopping standby $STANDBY_NAME ($STOP_MODE)"
    pg_ctl_standby -m "$STOP_MODE" -w -t 60 stop >/dev/null
}

promote() {
    running || die "standby on port $STANDBY_PORT is not running"
    local t0 t1
    t0=$(date +%s%N)
    pg_ctl_standby -w -t 60 promote >/dev/null || die "promotion failed (see $STANDBY_LOG)"
    t1=$(date +%s%N)
    [ "$(psql_standby -c 'SELECT pg_is_in_recovery()')" = f ] || die "still in recovery after promote"
    log "standby $STANDBY_NAME promoted: read-write primary on port $STANDBY_PORT after $(( (t1 - t0) / 1000000 )) ms"
}

status() {
    if ! running; then echo "running=no"; return 3; fi
    echo "running=yes"
    echo "port=$STANDBY_PORT"
    echo "in_recovery=$(psql_standby -c 'SELECT pg_is_in_recovery()' 2>/dev/null || echo unknown)"
    echo "receiver=$(psql_standby -c 'SELECT coalesce((SELECT status FROM pg_stat_wal_receiver), $$none$$)' 2>/dev/null || echo unknown)"
    local row
    row=$(psql_primary -F ' ' -c "SELECT sync_state, pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) FROM pg_stat_replication WHERE application_name = '$STANDBY_NAME'" 2>/dev/null || true)
    echo "sync_state=${row%% *}"
    echo "replay_lag_bytes=$([ -n "$row" ] && echo "${row#* }")"
}

destroy() {
    if running; then STOP_MODE=immediate stop; fi
    if psql_primary -c "SELECT 1" >/dev/null 2>&1; then
        psql_primary -c "SELECT pg_drop_replication_slot('$STANDBY_NAME') FROM pg_replication_slots WHERE slot_name = '$STANDBY_NAME'" >/dev/null \
            || log "could not drop slot $STANDBY_NAME on port $PRIMARY_PORT"
        if [ "$(psql_primary -c 'SHOW synchronous_standby_names')" = "\"$STANDBY_NAME\"" ] \
            || [ "$(psql_primary -c 'SHOW synchronous_standby_names')" = "$STANDBY_NAME" ]; then
            log "primary on port $PRIMARY_PORT: resetting synchronous_standby_names"
            psql_primary -c "ALTER SYSTEM RESET synchronous_standby_names" -c "SELECT pg_reload_conf()" >/dev/null
        fi
    else
        log "primary on port $PRIMARY_PORT unreachable: slot $STANDBY_NAME (if any) not dropped"
    fi
    [ -n "$STANDBY_DIR" ] && [ "$STANDBY_DIR" != / ] && [ "$STANDBY_DIR" != "$PRIMARY_DIR" ] || die "refusing to delete '$STANDBY_DIR'"
    rm -rf "$STANDBY_DIR"
    log "standby $STANDBY_NAME destroyed"
}

case "${1:-}" in
    create) create ;;
    start) start; if [ -f "$STANDBY_DIR/standby.signal" ]; then wait_streaming streaming-only; fi ;;
    stop) stop ;;
    promote) promote ;;
    status) status ;;
    destroy) destroy ;;
    *) die "usage: scripts/standby.sh create|start|stop|promote|status|destroy (settings: see the top of the file)" ;;
esac
