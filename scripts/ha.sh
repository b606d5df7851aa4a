#!/usr/bin/env bash
# The HA profile's database: a 3-member etcd cluster and 3 PostgreSQL 15 members, each under Patroni,
# which elects one leader through etcd, keeps one replica synchronous, and promotes it by itself when the
# leader fails. Data, configuration, pid files and logs under HA_DIR (.data/ha).
#   start    create (once) and start etcd and the Patroni members; wait for a leader and a sync replica
#   stop     stop Patroni (each stops its PostgreSQL), then etcd; by pid file only; keeps the data
#   status   one line per member (Patroni's /cluster) and per etcd member
#   leader   the leader's member name, address and port (Patroni's REST API: /cluster)
#   uri USER the libpq URI listing every member (for a gateway's db-uri; add target_session_attrs)
#   admin-uri the leader's unix socket URI as postgres (migrations, psql)
#   leader-from N  the leader as member N's Patroni sees it (a cut-off member answers from its own view)
#   cut N / heal N (namespaces only) cut member N off from etcd and from the other members, and back: a real
#                  partition (packets dropped, inside N's namespace), in which the gateways still reach N
#   destroy  stop, then delete HA_DIR (and the namespaces)
#
# Every port lives here (the project's 554xx range), derived from HA_BASE_PORT (55450, `make up-ha`):
# member i (1..3): PostgreSQL BASE+i, Patroni REST BASE+4+i, etcd client BASE+10+i, etcd peer BASE+14+i.
# The fault suite runs its own copy with HA_BASE_PORT=55470 and HA_DIR=.data/faults/ha.
#
# HA_NETNS=on (the fault suite) runs each Patroni member and its PostgreSQL in its own network namespace
# (HA_NS_PREFIX1..3, with a veth pair into a host bridge HA_NS_PREFIXbr on HA_SUBNET.0/24: the host is .1,
# member i is .1i), so that one member can be cut off from etcd and its peers by firewall rules inside its
# own namespace (`cut`), the gateways still reaching it. etcd stays on the host (127.0.0.1 and the bridge
# address). Off (the default, `make up-ha`), everything is on 127.0.0.1 and nothing is created outside HA_DIR.
#
# PostgreSQL and Patroni run as the `postgres` OS user (setpriv: the recorded pid is Patroni's own), etcd as
# the `etcd` user of Debian's package. Over the unix sockets in HA_DIR/run local users are trusted (as in the
# single cluster); over TCP every role needs its password (HA_DIR/secrets, generated once).
set -euo pipefail
source "$(dirname "$0")/env.sh"

HA_DIR=${HA_DIR:-$DATA_DIR/ha}
BASE=${HA_BASE_PORT:-55450}
NETNS=${HA_NETNS:-off}
NS=${HA_NS_PREFIX:-plha}
SUBNET=${HA_SUBNET:-10.254.50}
MEMBERS=3
SCOPE=${HA_SCOPE:-platform}
RUN_DIR=${HA_RUN_DIR:-$HA_DIR/run}             # unix sockets and pid files
HA_LOG="$HA_DIR/log"
SECRETS="$HA_DIR/secrets"
ETCD_BIN=${ETCD_BIN:-/usr/bin/etcd}
PATRONI_BIN=${PATRONI_BIN:-/usr/bin/patroni}

pg_port() { echo $((BASE + $1)); }
rest_port() { echo $((BASE + 4 + $1)); }
etcd_port() { echo $((BASE + 10 + $1)); }
etcd_peer_port() { echo $((BASE + 14 + $1)); }
# Where member i listens (PostgreSQL and REST API), and where the members reach etcd.
addr() { if [ "$NETNS" = on ]; then echo "$SUBNET.1$1"; else echo 127.0.0.1; fi; }
etcd_addr() { if [ "$NETNS" = on ]; then echo "$SUBNET.1"; else echo 127.0.0.1; fi; }
etcd_hosts() { local i out=(); for i in $(seq $MEMBERS); do out+=("$(etcd_addr):$(etcd_port "$i")"); done; (IFS=,; echo "${out[*]}"); }
pidfile() { echo "$RUN_DIR/$1.pid"; }
alive() { local f; f=$(pidfile "$1"); [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null; }
secret() { cat "$SECRETS/$1.password"; }

# --- namespaces -------------------------------------------------------------------------------------
netns_up() {
    [ "$NETNS" = on ] || return 0
    if ! ip link show "${NS}br" >/dev/null 2>&1; then
        ip link add "${NS}br" type bridge
        ip addr add "$SUBNET.1/24" dev "${NS}br"
        ip link set "${NS}br" up
    fi
    local i
    for i in $(seq $MEMBERS); do
        ip netns list | grep -qw "$NS$i" && continue
        ip netns add "$NS$i"
        ip link add "$NS${i}h" type veth peer name "$NS${i}n"
        ip link set "$NS${i}n" netns "$NS$i"
        ip link set "$NS${i}h" master "${NS}br" up
        ip netns exec "$NS$i" ip addr add "$SUBNET.1$i/24" dev "$NS${i}n"
        ip netns exec "$NS$i" ip link set "$NS${i}n" up
        ip netns exec "$NS$i" ip link set lo up
    done
}
netns_down() {
    [ "$NETNS" = on ] || return 0
    local i
    for i in $(seq $MEMBERS); do
        ip netns list | grep -qw "$NS$i" && ip netns delete "$NS$i"   # deletes its veth pair too
    done
    ip link show "${NS}br" >/dev/null 2>&1 && ip link delete "${NS}br"
    return 0
}

# --- etcd -------------------------------------------------------------------------------------------
etcd_start() {
    local i cluster="" urls
    for i in $(seq $MEMBERS); do cluster+="${cluster:+,}etcd$i=http://127.0.0.1:$(etcd_peer_port "$i")"; done
    for i in $(seq $MEMBERS); do
        alive "etcd$i" && continue
        install -d -o etcd -g etcd -m 700 "$HA_DIR/etcd$i"
        urls="http://127.0.0.1:$(etcd_port "$i")"
        [ "$NETNS" = on ] && urls+=",http://$(etcd_addr):$(etcd_port "$i")"
        # heartbeat 100 ms, election 1 s (etcd's defaults): a dead etcd leader is replaced within about a
        # second, well inside Patroni's retry_timeout, so losing one etcd member costs no write.
        nohup setpriv --reuid=etcd --regid=etcd --init-groups -- "$ETCD_BIN" --name "etcd$i" --data-dir "$HA_DIR/etcd$i" \
            --listen-client-urls "$urls" --advertise-client-urls "http://$(etcd_addr):$(etcd_port "$i")" \
            --listen-peer-urls "http://127.0.0.1:$(etcd_peer_port "$i")" \
            --initial-advertise-peer-urls "http://127.0.0.1:$(etcd_peer_port "$i")" \
            --initial-cluster "$cluster" --initial-cluster-state new --initial-cluster-token "$SCOPE-$BASE" \
            >>"$HA_LOG/etcd$i.log" 2>&1 &
        echo $! >"$(pidfile "etcd$i")"
    done
    for _ in $(seq 100); do
        ETCDCTL_API=3 etcdctl --endpoints "$(etcd_hosts)" --command-timeout=1s endpoint health >/dev/null 2>&1 && { log "etcd healthy on $(etcd_hosts)"; return; }
        sleep 0.2
    done
    tail -n 5 "$HA_LOG"/etcd*.log >&2; die "etcd not healthy after 20 s"
}
# Starts one etcd member again (after a kill): its data folder holds its identity; the flags are ignored.
etcd_restart() { etcd_start; }

# --- Patroni ----------------------------------------------------------------------------------------
secrets() {
    install -d -m 700 "$SECRETS"
    local r
    for r in superuser replication rewind; do
        [ -s "$SECRETS/$r.password" ] || (umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$SECRETS/$r.password")
    done
}

member_config() {   # member i: Patroni's YAML
    local i=$1 a; a=$(addr "$i")
    cat <<YAML
# Generated by scripts/ha.sh; edit the script, not this file.
scope: $SCOPE
namespace: /platform-ha-$BASE/
name: pg$i
log:
  dir: $HA_LOG/patroni-pg$i
  level: INFO
restapi:
  listen: $a:$(rest_port "$i")
  connect_address: $a:$(rest_port "$i")
etcd3:
  hosts: $(etcd_hosts)
bootstrap:
  dcs:
    # The leader key lives 12 s unless renewed (every loop_wait = 2 s); a request to etcd is retried for
    # retry_timeout = 4 s before Patroni gives up (loop_wait + 2 x retry_timeout <= ttl, Patroni's rule).
    # So a dead leader is replaced within about 12 s, and a leader cut off from etcd demotes itself
    # before its key expires, so that two leaders never coexist. (A 1 s loop, measured in the fault
    # suite: pauses of 6.9 s after a crash and 7.1 s in a switchover, 18.7 s in the partition, against
    # 6.8, 7.3 and 17.9 s with 2 s: no shorter on this machine, twice the requests to etcd.)
    ttl: 12
    loop_wait: 2
    retry_timeout: 4
    # A crashed primary is failed over at once instead of being restarted in place (Patroni's default
    # waits up to 300 s for it): the synchronous replica has every acknowledged commit.
    primary_start_timeout: 0
    # A replica more than 1 MiB behind is never promoted.
    maximum_lag_on_failover: 1048576
    # One replica is synchronous: a commit is acknowledged only once two members have it in WAL, and
    # only that replica may be promoted. Strict: when no replica is available the leader stops
    # acknowledging commits rather than falling back to acknowledging them alone (with two replicas,
    # one can be lost without any pause).
    synchronous_mode: true
    synchronous_mode_strict: true
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        # The project's settings (custom_conf) with less memory: three members share the machine.
        shared_buffers: 256MB
        effective_cache_size: 1GB
        maintenance_work_mem: 256MB
        max_connections: 100
        max_wal_senders: 10
        max_replication_slots: 10
        wal_keep_size: 256MB
        hot_standby_feedback: 'on'
  initdb:
  - encoding: UTF8
  - locale: C.UTF-8
  - auth-local: trust
  - auth-host: scram-sha-256
  - data-checksums
postgresql:
  listen: $a:$(pg_port "$i")
  connect_address: $a:$(pg_port "$i")
  data_dir: $HA_DIR/pg$i
  bin_dir: $PGBIN
  custom_conf: $HA_DIR/conf/project.conf
  pgpass: $HA_DIR/conf/pgpass-pg$i
  use_unix_socket: true
  parameters:
    unix_socket_directories: $RUN_DIR
  authentication:
    superuser: {username: postgres, password: '$(secret superuser)'}
    replication: {username: replicator, password: '$(secret replication)'}
    rewind: {username: rewinder, password: '$(secret rewind)'}
  pg_hba:
  - local all all trust
  - host replication replicator 0.0.0.0/0 scram-sha-256
  - host all all 0.0.0.0/0 scram-sha-256
tags:
  nofailover: false
  noloadbalance: false
YAML
}

patroni_start_one() {
    local i=$1; local conf="$HA_DIR/conf/pg$i.yml"
    alive "patroni-pg$i" && return 0
    (umask 077; member_config "$i" >"$conf"); chown postgres:postgres "$conf"
    install -d -o postgres -g postgres -m 700 "$HA_LOG/patroni-pg$i"
    touch "$HA_LOG/patroni-pg$i.out"; chown postgres:postgres "$HA_LOG/patroni-pg$i.out"
    # setpriv execs (no fork), and so does `ip netns exec`: $! is Patroni's own pid.
    local cmd=(setpriv --reuid=postgres --regid=postgres --init-groups -- "$PATRONI_BIN" "$conf")
    [ "$NETNS" = on ] && cmd=(ip netns exec "$NS$i" "${cmd[@]}")
    HOME=/var/lib/postgresql nohup "${cmd[@]}" >>"$HA_LOG/patroni-pg$i.out" 2>&1 &
    echo $! >"$(pidfile "patroni-pg$i")"
}

cluster_json() {   # Patroni's view of the cluster, from the first member that answers (or member $1's)
    local i
    for i in ${1:-$(seq $MEMBERS)}; do
        curl -fsS --max-time 1 "http://$(addr "$i"):$(rest_port "$i")/cluster" 2>/dev/null && return 0
    done
    return 1
}
leader_index() { cluster_json "${1:-}" | jq -r '.members[] | select(.role == "leader") | .name | ltrimstr("pg")' | head -1; }

wait_ready() {   # a leader that accepts writes and a synchronous replica
    local t=${1:-120} c
    for _ in $(seq $((t * 5))); do
        c=$(cluster_json 2>/dev/null || true)
        if [ -n "$c" ] && [ "$(jq '[.members[] | select(.role == "leader" and .state == "running")] | length' <<<"$c")" = 1 ] \
            && [ "$(jq '[.members[] | select(.role == "sync_standby" and (.state == "running" or .state == "streaming"))] | length' <<<"$c" 2>/dev/null || echo 0)" -ge 1 ]; then
            return 0
        fi
        sleep 0.2
    done
    return 1
}

start() {
    mkdir -p "$HA_DIR/conf" "$HA_LOG" "$RUN_DIR"
    # postgres (Patroni, PostgreSQL) and etcd must reach HA_DIR: open traversal (x) of its parents if not.
    local dir=$HA_DIR
    while [ "$dir" != / ]; do
        as_postgres test -x "$dir" 2>/dev/null || { log "allowing other users to traverse $dir"; chmod o+x "$dir"; }
        dir=$(dirname "$dir")
    done
    chown postgres:postgres "$HA_DIR" "$HA_DIR/conf" "$RUN_DIR" "$HA_LOG"
    chmod 755 "$HA_DIR" "$RUN_DIR"
    secrets
    install -o postgres -g postgres -m 600 "$ROOT/config/postgresql.conf" "$HA_DIR/conf/project.conf"
    netns_up
    etcd_start
    local i
    for i in $(seq $MEMBERS); do patroni_start_one "$i"; done
    wait_ready 180 || { status >&2 || true; tail -n 20 "$HA_LOG"/patroni-pg*.out >&2; die "no leader with a synchronous replica after 180 s"; }
    log "HA cluster up: leader $(leader)"
}

stop_pid() {   # NAME [SIGNAL]: stops a process by its pid file, waits up to 60 s
    local f pid; f=$(pidfile "$1")
    [ -f "$f" ] || return 0
    pid=$(cat "$f")
    if kill -0 "$pid" 2>/dev/null; then
        log "stopping $1 (pid $pid)"
        kill -"${2:-TERM}" "$pid"
        for _ in $(seq 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    fi
    rm -f "$f"
}

stop() {
    [ -d "$HA_DIR" ] || return 0
    local i pm
    # Patroni stops its PostgreSQL (fast shutdown) when it gets SIGTERM; replicas first, so the leader
    # is not left waiting for a synchronous replica that goes away.
    local l; l=$(leader_index 2>/dev/null || true)
    for i in $(seq $MEMBERS); do [ "$i" = "$l" ] || stop_pid "patroni-pg$i"; done
    [ -n "$l" ] && stop_pid "patroni-pg$l"
    # A postmaster whose Patroni was killed keeps running: stop it by its own pid file.
    for i in $(seq $MEMBERS); do
        pm="$HA_DIR/pg$i/postmaster.pid"
        if [ -f "$pm" ] && kill -0 "$(head -1 "$pm")" 2>/dev/null; then
            log "stopping PostgreSQL pg$i (pid $(head -1 "$pm"))"
            as_postgres "$PGBIN/pg_ctl" -D "$HA_DIR/pg$i" -m fast -w -t 60 stop >/dev/null || true
        fi
    done
    for i in $(seq $MEMBERS); do stop_pid "etcd$i"; done
    netns_down
}

# The partition: inside member N's namespace, drop every packet to or from the other members (replication,
# their REST APIs) and to or from etcd's client ports. The gateways (from the host's bridge address to its
# PostgreSQL port) still reach it: clients keep writing to a leader that can no longer renew its leader key
# nor reach its synchronous replica, the case that must not acknowledge a write. (Taking the link down would
# cut the clients too, and prove nothing about them.)
cut() {
    [ "$NETNS" = on ] || die "cut needs HA_NETNS=on"
    local n=$1 i e x=(ip netns exec "$NS$1" iptables)
    for i in $(seq $MEMBERS); do
        [ "$i" = "$n" ] && continue
        "${x[@]}" -A INPUT -s "$(addr "$i")" -j DROP
        "${x[@]}" -A OUTPUT -d "$(addr "$i")" -j DROP
    done
    for e in $(seq $MEMBERS); do
        "${x[@]}" -A OUTPUT -p tcp -d "$(etcd_addr)" --dport "$(etcd_port "$e")" -j DROP
        "${x[@]}" -A INPUT -p tcp -s "$(etcd_addr)" --sport "$(etcd_port "$e")" -j DROP
    done
    log "member $n cut off from etcd and the other members"
}

leader() {
    local i; i=$(leader_index) || true
    [ -n "$i" ] || die "no leader (Patroni's REST API unreachable or no member leads)"
    echo "pg$i $(addr "$i") $(pg_port "$i")"
}

status() {
    local c
    if c=$(cluster_json); then
        jq -r '.members[] | "\(.name) \(.role) \(.state) \(.host):\(.port) timeline \(.timeline // "-") lag \(.lag // 0)"' <<<"$c"
    else
        echo "Patroni: no member answers"
    fi
    local i
    for i in $(seq $MEMBERS); do echo "etcd$i $(alive "etcd$i" && echo running || echo stopped) $(etcd_addr):$(etcd_port "$i")"; done
    [ -n "${c:-}" ]
}

uri() {   # USER[:PASSWORD]: every member, for libpq's multi-host failover
    local i hosts=()
    for i in $(seq $MEMBERS); do hosts+=("$(addr "$i"):$(pg_port "$i")"); done
    echo "postgresql://$1@$(IFS=,; echo "${hosts[*]}")/$DB_NAME"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    leader) leader ;;
    uri) uri "${2:?usage: ha.sh uri USER[:PASSWORD]}" ;;
    admin-uri) l=$(leader_index); [ -n "$l" ] || die "no leader"; echo "postgresql://postgres@/${2:-$DB_NAME}?host=$RUN_DIR&port=$(pg_port "$l")" ;;
    start-member) patroni_start_one "${2:?member}" ;;
    etcd-start) etcd_start ;;
    wait) wait_ready "${2:-120}" ;;
    leader-from) l=$(leader_index "${2:?member}") || true; [ -n "$l" ] || die "member $2 sees no leader"; echo "pg$l $(addr "$l") $(pg_port "$l")" ;;
    cut) cut "${2:?member}" ;;
    heal) [ "$NETNS" = on ] || die "heal needs HA_NETNS=on"; ip netns exec "$NS$2" iptables -F; log "member $2 reconnected" ;;
    destroy) stop; [ -n "$HA_DIR" ] && [ "$HA_DIR" != / ] && rm -rf "$HA_DIR" ;;
    *) die "usage: scripts/ha.sh start|stop|status|leader|uri USER|admin-uri [DB]|start-member N|etcd-start|wait [S]|cut N|heal N|destroy" ;;
esac
