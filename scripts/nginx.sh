#!/usr/bin/env bash
# Starts, reloads or stops nginx in front of the gateways (`make up` / `make stop`). The template
# nginx/nginx.conf.template is rendered into .data/nginx/nginx.conf with the local ports; nginx runs as
# a background master with its pid file in .data/run and its logs in .data/log. Stopped by pid file only.
#   NGINX_PORT (8080)  GATEWAYS (2)  GATEWAY_BASE_PORT (3000): upstreams 127.0.0.1:BASE+1 .. BASE+GATEWAYS
#   NGINX_PREFIX (.data/nginx)  NGINX_PID_FILE (.data/run/nginx.pid)  NGINX_LOG_DIR (.data/log): for a second,
#   separate nginx (benchmarks/faults); the defaults are those of `make up`.
#   NGINX_UPSTREAMS ("host:port host:port ..."): the gateways, when they are not on consecutive ports
#   (the integration test of nginx's retry rules, Tests/IntegrationTests/NginxRetryTests.swift).
#   NGINX_TEMPLATE (nginx/nginx.conf.template): another template, e.g. an older one to show a test failing.
# `render` only writes and checks the configuration (prints its path): for a caller that runs nginx itself.
set -euo pipefail
source "$(dirname "$0")/env.sh"
NGINX_BIN=${NGINX_BIN:-$(command -v nginx || echo /usr/sbin/nginx)}
NGINX_PORT=${NGINX_PORT:-8080}
COUNT=${GATEWAYS:-2}
BASE_PORT=${GATEWAY_BASE_PORT:-3000}
PREFIX=${NGINX_PREFIX:-$DATA_DIR/nginx}
TEMPLATE=${NGINX_TEMPLATE:-$ROOT/nginx/nginx.conf.template}
CONF="$PREFIX/nginx.conf"
PID_FILE=${NGINX_PID_FILE:-$SOCKET_DIR/nginx.pid}
LOG_DIR=${NGINX_LOG_DIR:-$LOG_DIR}

render() {
    mkdir -p "$PREFIX" "$LOG_DIR" "$SOCKET_DIR" "$(dirname "$PID_FILE")"
    local servers="" user_line="# not root: workers run as the current user" i
    local upstreams=${NGINX_UPSTREAMS:-} address
    if [ -z "$upstreams" ]; then
        for i in $(seq 1 "$COUNT"); do upstreams+=" 127.0.0.1:$((BASE_PORT + i))"; done
    fi
    for address in $upstreams; do
        servers+="        server $address max_fails=1 fail_timeout=5s;"$'\n'
    done
    # As root, workers run as nobody: they only read the rendered config and write temp files under
    # .data/nginx (nginx chowns its temp folders to the worker user); logs are opened by the master.
    if [ "$(id -u)" = 0 ]; then
        user_line="user nobody nogroup;"
    fi
    local tmp="$CONF.tmp"
    awk -v servers="${servers%$'\n'}" -v user="$user_line" -v prefix="$PREFIX" -v logdir="$LOG_DIR" \
        -v pidfile="$PID_FILE" -v port="$NGINX_PORT" '
        { gsub(/@USER_LINE@/, user); gsub(/@PREFIX@/, prefix); gsub(/@LOG_DIR@/, logdir);
          gsub(/@PID_FILE@/, pidfile); gsub(/@PORT@/, port);
          if ($0 ~ /@UPSTREAM_SERVERS@/) { print servers; next } print }' \
        "$TEMPLATE" >"$tmp"
    chmod 644 "$tmp"
    mv "$tmp" "$CONF"
    "$NGINX_BIN" -t -q -p "$PREFIX" -c "$CONF" || die "nginx configuration $CONF is invalid"
}

running_pid() {
    [ -f "$PID_FILE" ] || return 1
    local pid; pid=$(cat "$PID_FILE")
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

start() {
    render
    if pid=$(running_pid); then
        log "nginx already running (pid $pid): reloading the configuration"
        kill -HUP "$pid"
    else
        # The unix socket of the conf's write_hop: nginx removes it when it exits, not after a kill -9,
        # and would then fail to bind it ("Address already in use").
        rm -f "$PREFIX/write-hop.sock"
        "$NGINX_BIN" -p "$PREFIX" -c "$CONF"          # daemonizes; writes $PID_FILE
        for _ in $(seq 50); do running_pid >/dev/null && break; sleep 0.1; done
        running_pid >/dev/null || { tail -5 "$LOG_DIR/nginx-error.log" >&2; die "nginx did not start"; }
    fi
    for _ in $(seq 50); do
        curl -fsS -o /dev/null "http://127.0.0.1:$NGINX_PORT/static-204" 2>/dev/null && break
        sleep 0.1
    done
    log "nginx on http://127.0.0.1:$NGINX_PORT -> $COUNT gateway(s) from port $((BASE_PORT + 1)), logs $LOG_DIR/nginx-*.log"
}

stop() {
    local pid
    if pid=$(running_pid); then
        log "stopping nginx pid $pid"
        kill -QUIT "$pid"                              # graceful: finish requests in flight
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && kill -TERM "$pid"
    fi
    rm -f "$PID_FILE"
}

reload() {
    local pid
    pid=$(running_pid) || die "nginx is not running (no live pid in $PID_FILE)"
    render
    kill -HUP "$pid"
    log "nginx reloaded (pid $pid)"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    reload) reload ;;
    render) render; echo "$CONF" ;;
    *) die "usage: scripts/nginx.sh start|stop|reload|render" ;;
esac
