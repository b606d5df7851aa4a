#!/usr/bin/env bash
# A Docker Engine API for workspaces and image builds: Debian's podman serving the Docker-compatible API
# on a unix socket of the project's, with everything (configuration, storage, run state, socket, pid
# file, log) under .data/podman, so nothing leaks into the machine's own container storage.
#
#   bash scripts/podman.sh start    installs podman, runc, busybox-static if missing; writes the
#                                   configuration; starts `podman system service` (pid file); builds the
#                                   local base image localhost/a4c-base:latest (FROM scratch + busybox)
#   bash scripts/podman.sh stop     removes the containers of the project's storage (their processes
#                                   would outlive the service), then stops the service by its pid file
#   bash scripts/podman.sh status   exit 0 when the API answers /_ping
#   bash scripts/podman.sh socket   prints the socket path (for DOCKER_HOST=unix://...)
#   bash scripts/podman.sh env      prints the environment podman commands need (eval it)
#
# Why runc and the ulimits: crun and podman's default ulimits fail on this kind of VM (tried).
# There is no registry: the base image is built locally from Debian's static busybox.
set -euo pipefail
source "$(dirname "$0")/env.sh"

PODMAN_DIR="$DATA_DIR/podman"
SOCKET="$PODMAN_DIR/podman.sock"
PID_FILE="$PODMAN_DIR/podman.pid"
CONF="$PODMAN_DIR/containers.conf"
STORAGE_CONF="$PODMAN_DIR/storage.conf"
BASE_IMAGE=${A4C_BASE_IMAGE:-localhost/a4c-base:latest}

podman_env() {
    export CONTAINERS_CONF="$CONF" CONTAINERS_STORAGE_CONF="$STORAGE_CONF"
    export XDG_RUNTIME_DIR="$PODMAN_DIR/xdg" TMPDIR="$PODMAN_DIR/tmp"
}

install_missing() {
    local packages=(podman runc busybox-static uidmap fuse-overlayfs slirp4netns curl) missing=() p
    for p in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    ((${#missing[@]})) || return 0
    log "installing ${missing[*]}"
    [ "$(id -u)" = 0 ] || die "installing packages needs root (install: ${missing[*]})"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

write_config() {
    mkdir -p "$PODMAN_DIR"/{storage,runroot,xdg,tmp,volumes,build}
    chmod 700 "$PODMAN_DIR/xdg"
    cat >"$CONF" <<EOF
# Written by scripts/podman.sh; podman reads it through CONTAINERS_CONF.
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
netns = "none"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$PODMAN_DIR/events.log"
tmp_dir = "$PODMAN_DIR/tmp"
volume_path = "$PODMAN_DIR/volumes"
EOF
    cat >"$STORAGE_CONF" <<EOF
# Written by scripts/podman.sh; podman reads it through CONTAINERS_STORAGE_CONF.
[storage]
driver = "vfs"
graphroot = "$PODMAN_DIR/storage"
runroot = "$PODMAN_DIR/runroot"
EOF
}

is_up() { curl -sf --max-time 2 --unix-socket "$SOCKET" http://d/_ping >/dev/null 2>&1; }

build_base() {
    if curl -sf --unix-socket "$SOCKET" "http://d/v1.41/images/$BASE_IMAGE/json" >/dev/null 2>&1; then return 0; fi
    log "building the base image $BASE_IMAGE (FROM scratch + busybox-static)"
    local ctx="$PODMAN_DIR/build/base"
    rm -rf "$ctx"; mkdir -p "$ctx"
    cp /bin/busybox "$ctx/busybox"
    cat >"$ctx/Dockerfile" <<'EOF'
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
RUN mkdir -p /usr/bin /sbin /usr/sbin /tmp /root /etc && chmod 1777 /tmp \
 && echo 'root:x:0:0:root:/root:/bin/sh' > /etc/passwd && echo 'root:x:0:' > /etc/group
ENV PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin
CMD ["/bin/sh"]
EOF
    podman_env
    podman build --quiet --network none -t "$BASE_IMAGE" "$ctx" >"$PODMAN_DIR/build-base.log" 2>&1 \
        || { cat "$PODMAN_DIR/build-base.log" >&2; die "building $BASE_IMAGE failed"; }
}

start() {
    install_missing
    command -v runc >/dev/null || die "runc is missing"
    write_config
    if is_up; then log "podman API already up on $SOCKET"; build_base; return 0; fi
    if [ -f "$PID_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then
        kill "$(cat "$PID_FILE")" 2>/dev/null || true; sleep 1
    fi
    rm -f "$SOCKET" "$PID_FILE"
    mkdir -p "$LOG_DIR"
    podman_env
    log "starting the podman API service on $SOCKET"
    nohup podman system service --time=0 "unix://$SOCKET" >"$LOG_DIR/podman.log" 2>&1 </dev/null &
    echo $! >"$PID_FILE"
    for _ in $(seq 1 100); do
        is_up && break
        kill -0 "$(cat "$PID_FILE")" 2>/dev/null || { tail -20 "$LOG_DIR/podman.log" >&2; die "podman service exited"; }
        sleep 0.1
    done
    is_up || { tail -20 "$LOG_DIR/podman.log" >&2; die "podman API did not answer on $SOCKET"; }
    build_base
    log "podman API up (pid $(cat "$PID_FILE")), base image $BASE_IMAGE"
}

stop() {
    if [ -f "$CONF" ] && command -v podman >/dev/null; then
        podman_env
        podman rm --all --force --time 0 >/dev/null 2>&1 || true
    fi
    [ -f "$PID_FILE" ] || { log "podman API not running (no pid file)"; return 0; }
    local pid; pid=$(cat "$PID_FILE")
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid"
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$PID_FILE" "$SOCKET"
    log "podman API stopped"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) if is_up; then echo "podman API up on $SOCKET (pid $(cat "$PID_FILE" 2>/dev/null || echo '?'))"; else echo "podman API down"; exit 1; fi ;;
    socket) echo "$SOCKET" ;;
    env) echo "export CONTAINERS_CONF='$CONF' CONTAINERS_STORAGE_CONF='$STORAGE_CONF' XDG_RUNTIME_DIR='$PODMAN_DIR/xdg' TMPDIR='$PODMAN_DIR/tmp'" ;;
    *) echo "usage: $0 start|stop|status|socket|env" >&2; exit 2 ;;
esac
