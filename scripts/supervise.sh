#!/usr/bin/env bash
# Keeps one gateway instance running: starts it, and when it dies (crash, kill -9) starts it again after
# a second, until this supervisor gets SIGTERM/SIGINT, which it passes on (graceful shutdown) and waits for.
# usage: scripts/supervise.sh PIDFILE LOGFILE COMMAND [ARG...]   (PIDFILE holds the current child's pid)
set -u
pidfile=$1 logfile=$2
shift 2
stopping="" child=""
trap 'stopping=1; [ -n "$child" ] && kill -TERM "$child" 2>/dev/null' TERM INT
while [ -z "$stopping" ]; do
    "$@" >>"$logfile" 2>&1 &
    child=$!
    echo "$child" >"$pidfile"
    wait "$child"
    status=$?
    [ -n "$stopping" ] && break
    printf '%s supervisor: gateway pid %s exited with status %s; restarting in 1 s\n' "$(date -u +%FT%TZ)" "$child" "$status" >>"$logfile"
    sleep 1
done
# Interrupted `wait`: let the child finish its graceful shutdown (at most 35 s), then go.
for _ in $(seq 350); do kill -0 "$child" 2>/dev/null || break; sleep 0.1; done
kill -KILL "$child" 2>/dev/null
rm -f "$pidfile"
