# The fault suite's HA scenarios (sourced by benchmarks/faults/run.sh, which owns the load, the accounting
# and the report: start_load, wait_load, lost_writes, violations, record). Their own cluster: 3 etcd members
# and 3 PostgreSQL members under Patroni (scripts/ha.sh, HA_NETNS=on: each member in its own network
# namespace, ports 55471-55487, data in .data/faults/ha), behind the suite's gateways and nginx. No scenario
# tells Patroni what to do: the suite only breaks things and measures.
#   11  the leader's postmaster killed (SIGKILL): a replica is promoted; time to the first acknowledged write
#   12  switchover: the leader's Patroni stopped gracefully (it stops PostgreSQL and hands over); write pause
#   13  the etcd leader killed (SIGKILL): etcd elects another, no write fails; restarted after
#   14  the old leader of 12 comes back: it rejoins as a replica (pg_rewind when its WAL went past the fork)
#   15  partition: the leader cut off from etcd and its peers while the gateways keep writing to it; it must
#       stop acknowledging, a new leader takes over, and once healed the old one rejoins (pg_rewind)
# Every scenario: 0 acknowledged writes lost on the final leader, 0 invariant violations, and no write
# acknowledged by two leaders: a test-only trigger (ha_origin.sql) records which member committed each
# widget, and within a scenario the members' commits must not interleave (one switch at most).

HA_BASE=55470
hax() { HA_DIR="$F/ha" HA_RUN_DIR="$RUN" HA_BASE_PORT=$HA_BASE HA_NETNS=on HA_NS_PREFIX=plf HA_SUBNET=10.254.70 \
        HA_SCOPE=faults bash scripts/ha.sh "$@"; }
ha_port() { echo $((HA_BASE + $1)); }
ha_leader() { hax leader 2>/dev/null | sed -n 's/^pg\([0-9]\) .*/\1/p'; }
ha_teardown() { [ -d "$F/ha" ] && hax stop >/dev/null 2>&1; return 0; }
HA_DURATION=${FAULTS_HA_DURATION:-30}

# Waits (<= $2 s) until a member other than $1 leads, as member $3 (default: any) sees it; prints the index.
ha_wait_new_leader() {
    local old=$1 l
    for _ in $(seq $(($2 * 10))); do
        if [ -n "${3:-}" ]; then l=$(hax leader-from "$3" 2>/dev/null); else l=$(hax leader 2>/dev/null); fi
        l=$(sed -n 's/^pg\([0-9]\) .*/\1/p' <<<"$l")
        [ -n "$l" ] && [ "$l" != "$old" ] && { echo "$l"; return 0; }
        sleep 0.1
    done
    return 1
}
# Waits (<= $2 s) until member $1 streams from the leader; prints the seconds since $3.
ha_wait_streaming() {
    local l state
    for _ in $(seq $(($2 * 5))); do
        l=$(ha_leader)
        state=$([ -n "$l" ] && sql "$(ha_port "$l")" -c "SELECT state FROM pg_stat_replication WHERE application_name = 'pg$1'" 2>/dev/null)
        [ "$state" = streaming ] && { awk -v a="$3" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; return 0; }
        sleep 0.2
    done
    echo never; return 1
}
# Longest run of 100 ms buckets without an acknowledged write after unix time $2, in scenario $1's
# timeline: "PAUSE_S FIRST_WRITE_S" (the first acknowledged write after the fault, seconds after $2).
ha_write_pause() {
    jq -r --arg t "$2" '.timeline | .start_unix as $s | (.bucket_ms / 1000) as $w | ($t | tonumber) as $t0
        | [range(0; .ok | length) as $i | {i: $i, ok: .ok[$i]} | select($s + ($i + 1) * $w > $t0)]
        | reduce .[] as $b ({run: 0, best: 0, end: null};
            if $b.ok == 0 then .run += 1 | (if .run > .best then .best = .run | .end = $b.i else . end) else .run = 0 end)
        | "\(.best * $w * 10 | round / 10) \(if .end then (($s + (.end + 1) * $w - $t0) * 10 | round / 10) else 0 end)"' "$WORK/s$1.json"
}
# Leaders that committed widgets between unix times $2 and $3, on the cluster at port $1: "SWITCHES MEMBERS"
# (members as ports in commit order). Two leaders acknowledging at once would interleave: switches > 1.
ha_origins() {
    sql "$1" -F ' ' -c "WITH o AS (SELECT port, at, lag(port) OVER (ORDER BY at) AS prev FROM faults_ha.origin
                                    WHERE at BETWEEN to_timestamp($2) AND to_timestamp($3))
                       SELECT count(*) FILTER (WHERE prev IS NOT NULL AND prev <> port),
                              coalesce((SELECT string_agg(port::text, '>' ORDER BY first) FROM
                                        (SELECT port, min(at) AS first FROM o GROUP BY port) f), '-') FROM o"
}
# Successful pg_rewind runs of member $1 logged after line $2 of its Patroni log.
ha_log_lines() { wc -l <"$F/ha/log/patroni-pg$1/patroni.log" 2>/dev/null || echo 0; }
ha_rewinds() { tail -n +"$(($2 + 1))" "$F/ha/log/patroni-pg$1/patroni.log" 2>/dev/null | grep -c 'pg_rewind exit code=0' || true; }
ha_figures() {   # N PORT: sets requests acked failures window lost viol for scenario N on the cluster at PORT
    requests=$(fig '.requests' "$1"); acked=$(fig '.timeline.acknowledged_writes' "$1")
    failures=$(fig '.timeline.failures' "$1"); window=$(fig '.timeline.failure_window_seconds * 1000 | round / 1000' "$1")
    lost=$(lost_writes "$2" "$1" "$WORK/s$1.acks"); viol=$(violations "$2" "$1")
}
ok_if() { if "$@"; then echo ok; else echo fail; fi; }
# Failed requests (non-2xx or transport) of scenario $1 answered from unix time $2 to $2 + $3 s: the fault's
# own effect, apart from the quick 503s an overloaded machine gives at any time (admission control).
# Writes went on from unix time $2 for $3 s in scenario $1: an acknowledged write in every whole second,
# and failures no more than 1% of the requests sent meanwhile (quick 503s of admission control happen on a
# loaded machine at any time; a write pause fails hundreds). Prints "ok|fail FAILURES FEWEST_PER_SECOND".
ha_writes_went_on() {
    local near minok
    near=$(ha_failures_near "$1" "$2" "$3")
    minok=$(jq -r --arg t "$2" --arg d "$3" '.timeline | .start_unix as $s | ((($t | tonumber) - $s) * 10 | ceil) as $k
        | [.ok[$k:$k + (($d | tonumber) * 10)] | . as $b | range(0; ($b | length) / 10 | floor) as $i | $b[$i * 10:($i + 1) * 10] | add]
        | min // 0' "$WORK/s$1.json")
    if [ "$minok" -gt 0 ] && [ "$near" -le $((RATE * $3 / 100)) ]; then echo "ok $near $minok"; else echo "fail $near $minok"; fi
}
ha_failures_near() {
    jq -r --arg t "$2" --arg d "$3" '.timeline | .start_unix as $s | (.bucket_ms / 1000) as $w
        | [range(0; .ok | length) as $i | select($s + ($i + 1) * $w > ($t | tonumber) and $s + $i * $w < ($t | tonumber) + ($d | tonumber))
           | .non2xx[$i] + .transport[$i]] | add // 0' "$WORK/s$1.json"
}

ha_setup() {
    log "HA cluster: 3 etcd + 3 PostgreSQL members under Patroni, each member in its own network namespace"
    bash scripts/deps.sh ha
    hax destroy >/dev/null 2>&1 || true
    hax start
    local admin; admin="postgresql://postgres@/platform?host=$RUN&port=$(ha_port "$(ha_leader)")"
    psql -X -q "${admin/platform?/postgres?}" -c "CREATE DATABASE platform"
    "$GATEWAY_BIN" migrate --db-uri "$admin" --migrations migrations --sql sql >"$FLOG/migrate-ha.log" 2>&1 \
        || { tail -5 "$FLOG/migrate-ha.log" >&2; die "migration of the HA cluster failed"; }
    psql -X -q -v ON_ERROR_STOP=1 "$admin" -v pw="$PW" <<<"ALTER ROLE authenticator PASSWORD :'pw';"
    sql "$(ha_port "$(ha_leader)")" -v pairs=$PAIRS -v scenarios=15 -v nodes=$NODES -f benchmarks/faults/setup.sql >/dev/null
    sql "$(ha_port "$(ha_leader)")" -f benchmarks/faults/ha_origin.sql >/dev/null
    # The gateways name every member; connect_timeout and tcp_user_timeout bound the wait on a member that
    # drops packets (scenario 15), as `make up-ha` sets them.
    local tcp="connect_timeout=2&tcp_user_timeout=3000&keepalives_idle=2&keepalives_interval=1&keepalives_count=2"
    GATEWAY_DB_URI="$(hax uri "authenticator:$PW")?target_session_attrs=read-write&$tcp" \
    GATEWAY_DB_URI_READ="$(hax uri "authenticator:$PW")?target_session_attrs=prefer-standby&$tcp" \
        bash scripts/gateways.sh start
    bash scripts/nginx.sh start
}

# --- 11: the leader's postmaster SIGKILLed ----------------------------------------------------------------
ha_kill_postmaster() {
    local n=11 l new pm t_kill t_new lines rejoin pause first origins
    l=$(ha_leader); pm=$(head -1 "$F/ha/pg$l/postmaster.pid")
    log "scenario $n: kill -9 the leader's postmaster (pg$l, pid $pm) under load; Patroni must promote a replica"
    lines=$(ha_log_lines "$l")
    start_load $n
    at_second "$FAULT_AT"
    kill -KILL "$pm"; t_kill=$(now)
    new=$(ha_wait_new_leader "$l" 40) || new=""
    t_new=$(awk -v a="$t_kill" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
    wait_load $n
    rejoin=$(ha_wait_streaming "$l" 60 "$t_kill") || true
    read -r pause first <<<"$(ha_write_pause $n "$t_kill")"
    ha_figures $n "$(ha_port "${new:-$l}")"
    origins=$(ha_origins "$(ha_port "${new:-$l}")" "$LOAD_T0" "$(now)")
    NOTES+=("$n: postmaster of pg$l killed; Patroni's view: pg${new:-?} leads $t_new s later; first acknowledged write $first s after the kill (no write acknowledged for $pause s); pg$l rejoined as a replica (Patroni restarted it) streaming $rejoin s after the kill, pg_rewind runs: $(ha_rewinds "$l" "$lines"); committing members in order (ports): ${origins#* }")
    record $n "HA: leader's postmaster SIGKILLed, Patroni fails over" "$requests" "$acked" "$failures" "$window" \
        "$first (first write; pause $pause)" "$lost" "$viol" \
        "promoted=$(ok_if [ -n "$new" ])" "one leader at a time=$(ok_if [ "${origins%% *}" -le 1 ])" \
        "old leader rejoined=$(ok_if [ "$rejoin" != never ])"
}

# --- 12: switchover: the leader's Patroni stopped gracefully ------------------------------------------------
ha_switchover() {
    local n=12 l new t_stop pause first origins
    l=$(ha_leader)
    log "scenario $n: stop the leader's Patroni (pg$l) with SIGTERM under load: it stops PostgreSQL and hands over"
    start_load $n
    at_second "$FAULT_AT"
    t_stop=$(now)
    kill -TERM "$(cat "$RUN/patroni-pg$l.pid")"
    new=$(ha_wait_new_leader "$l" 40) || new=""
    wait_load $n
    read -r pause first <<<"$(ha_write_pause $n "$t_stop")"
    ha_figures $n "$(ha_port "${new:-$l}")"
    origins=$(ha_origins "$(ha_port "${new:-$l}")" "$LOAD_T0" "$(now)")
    HA_STOPPED=$l
    NOTES+=("$n: Patroni of pg$l stopped (SIGTERM) $(awk -v a="$t_stop" -v b="$(now)" 'BEGIN { printf "%.0f", b - a }') s before the end; new leader pg${new:-?}; write pause $pause s, first acknowledged write $first s after the stop; committing members in order (ports): ${origins#* }")
    record $n "HA: switchover (leader's Patroni stopped)" "$requests" "$acked" "$failures" "$window" \
        "$first (first write; pause $pause)" "$lost" "$viol" \
        "new leader=$(ok_if [ -n "$new" ])" "one leader at a time=$(ok_if [ "${origins%% *}" -le 1 ])"
}

# --- 13: the etcd leader killed ---------------------------------------------------------------------------
ha_kill_etcd() {
    local n=13 e l l2 t_kill pid endpoints went near minok
    endpoints="127.0.0.1:$((HA_BASE + 11)),127.0.0.1:$((HA_BASE + 12)),127.0.0.1:$((HA_BASE + 13))"
    e=$(ETCDCTL_API=3 etcdctl --endpoints "$endpoints" endpoint status -w json 2>/dev/null \
        | jq -r '.[] | select(.Status.header.member_id == .Status.leader) | .Endpoint' | sed 's/.*:\([0-9]*\)$/\1/')
    e=$(( ${e:-$((HA_BASE + 11))} - HA_BASE - 10 ))
    pid=$(cat "$RUN/etcd$e.pid"); l=$(ha_leader)
    log "scenario $n: kill -9 the etcd leader (etcd$e, pid $pid) under load; writes must not notice"
    start_load $n
    at_second "$FAULT_AT"
    kill -KILL "$pid"; t_kill=$(now)
    wait_load $n
    l2=$(ha_leader)
    ha_figures $n "$(ha_port "$l2")"
    read -r went near minok <<<"$(ha_writes_went_on $n "$t_kill" 10)"
    hax etcd-start >/dev/null 2>&1
    NOTES+=("$n: etcd$e (the etcd leader) killed; PostgreSQL leader pg$l before, pg$l2 after; etcd$e started again after the load and the cluster healthy: $(ETCDCTL_API=3 etcdctl --endpoints "$endpoints" endpoint health >/dev/null 2>&1 && echo yes || echo no)")
    NOTES+=("$n: failed requests in the 10 s after the kill: $near (of about $((RATE * 10))); fewest acknowledged writes in a second after it: $minok")
    record $n "HA: etcd leader SIGKILLed" "$requests" "$acked" "$failures" "$window" "- ($near failed in the 10 s after)" "$lost" "$viol" \
        "writes went on=$went" "same PostgreSQL leader=$(ok_if [ "$l" = "$l2" ])"
}

# --- 14: the old leader comes back --------------------------------------------------------------------------
ha_rejoin() {
    local n=14 m=${HA_STOPPED:-} l t_start rejoin lines role lost_all went near minok
    [ -n "$m" ] || { log "scenario $n skipped: no member stopped by 12"; return 0; }
    l=$(ha_leader); lines=$(ha_log_lines "$m")
    log "scenario $n: start pg$m's Patroni again under load: it must rejoin as a replica of pg$l"
    start_load $n
    at_second "$FAULT_AT"
    t_start=$(now)
    hax start-member "$m"
    rejoin=$(ha_wait_streaming "$m" 60 "$t_start") || true
    wait_load $n
    role=$(sql "$(ha_port "$m")" -c "SELECT CASE WHEN pg_is_in_recovery() THEN 'replica' ELSE 'primary' END" 2>/dev/null || echo down)
    ha_figures $n "$(ha_port "$l")"
    read -r went near minok <<<"$(ha_writes_went_on $n "$t_start" 20)"
    # Nothing the old leader acknowledged (scenarios 11-12, before it stopped) is missing on the leader.
    lost_all=$(lost_writes "$(ha_port "$l")" ha-12 "$WORK"/s1[12].acks)
    NOTES+=("$n: pg$m started again; streaming from pg$l $rejoin s later, role $role, pg_rewind runs: $(ha_rewinds "$m" "$lines"); acknowledged writes of 11-12 missing on the leader: $lost_all; failed requests in the 20 s after the start: $near, fewest acknowledged writes in a second: $minok")
    record $n "HA: old leader rejoins as a replica" "$requests" "$acked" "$failures" "$window" \
        "$rejoin (streaming)" "$((lost + lost_all))" "$viol" \
        "replica=$(ok_if [ "$role" = replica ])" "streaming=$(ok_if [ "$rejoin" != never ])" \
        "writes went on=$went"
}

# --- 15: partition: the leader cut off from etcd and its peers, its clients still writing -------------------
ha_partition() {
    local n=15 l new t_cut t_demoted="" t_heal demoted past_fork last_old rejoin lines pause first origins lost_all st
    l=$(ha_leader); lines=$(ha_log_lines "$l")
    log "scenario $n: cut the leader pg$l off from etcd and its peers under load (the gateways still reach it)"
    start_load $n
    at_second "$FAULT_AT"
    hax cut "$l"; t_cut=$(now)
    # The cut-off leader, watched over its unix socket (not namespaced): when does it stop being a primary?
    for _ in $(seq 300); do
        st=$(sql "$(ha_port "$l")" -c "SELECT pg_is_in_recovery()" 2>/dev/null || echo down)
        [ "$st" != f ] && { t_demoted=$(now); break; }
        sleep 0.1
    done
    demoted=$(awk -v a="$t_cut" -v b="${t_demoted:-0}" 'BEGIN { printf "%.1f", (b > 0 ? b - a : -1) }')
    new=$(ha_wait_new_leader "$l" 40 "$([ "$l" = 1 ] && echo 2 || echo 1)") || new=""
    t_new=$(awk -v a="$t_cut" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
    wait_load $n
    # Before healing: the commits the cut-off leader wrote into its own WAL past the fork (where the new
    # leader's timeline begins, from its history file). PostgreSQL makes a commit visible only after the
    # synchronous replica confirms it, so these were never acknowledged nor seen; pg_rewind removes them.
    local hist ptl switch
    hist=$(ls "$F/ha/pg${new:-$l}/pg_wal/"*.history 2>/dev/null | sort | tail -1)
    read -r ptl switch _ <<<"$(grep -v '^#' "$hist" 2>/dev/null | tail -1)"
    past_fork=$([ -n "${switch:-}" ] && "$PGBIN/pg_waldump" -p "$F/ha/pg$l/pg_wal" -t "$ptl" -s "$switch" 2>/dev/null | grep -c 'desc: COMMIT' || true)
    hax heal "$l"; t_heal=$(now)
    rejoin=$(ha_wait_streaming "$l" 90 "$t_heal") || true
    read -r pause first <<<"$(ha_write_pause $n "$t_cut")"
    ha_figures $n "$(ha_port "${new:-$l}")"
    origins=$(ha_origins "$(ha_port "${new:-$l}")" "$LOAD_T0" "$(now)")
    lost_all=$(lost_writes "$(ha_port "${new:-$l}")" ha-all "$WORK"/s1[1-5].acks)
    # The last commit of the cut-off leader that survived (replicated, so acknowledgeable), against the cut.
    last_old=$(sql "$(ha_port "${new:-$l}")" -c "SELECT round((extract(epoch FROM max(at)) - $t_cut)::numeric, 2) FROM faults_ha.origin
                                                   WHERE port = $(ha_port "$l") AND at > to_timestamp($LOAD_T0)")
    NOTES+=("$n: pg$l cut off; its last surviving commit ${last_old:-?} s after the cut; it stopped being a primary $demoted s after the cut (Patroni demoted it: leader key not renewable); pg${new:-?} led $t_new s after the cut (as pg$([ "$l" = 1 ] && echo 2 || echo 1) saw it); first acknowledged write $first s after the cut (pause $pause s); commits pg$l wrote past the fork (timeline $ptl at ${switch:-?}), never acknowledged: ${past_fork:-?}; healed, pg$l streaming again $rejoin s later, pg_rewind runs: $(ha_rewinds "$l" "$lines"); committing members in order (ports): ${origins#* }; all acknowledged writes of 11-15 on the final leader: $lost_all missing")
    record $n "HA: partition, leader cut off from etcd and peers (clients still reach it)" "$requests" "$acked" "$failures" "$window" \
        "$first (first write; pause $pause)" "$((lost + lost_all))" "$viol" \
        "old leader demoted=$(ok_if [ "$demoted" != -1.0 ])" "new leader=$(ok_if [ -n "$new" ])" \
        "one leader at a time=$(ok_if [ "${origins%% *}" -le 1 ])" "rejoined=$(ok_if [ "$rejoin" != never ])"
}

ha_scenarios() {
    local DURATION=$HA_DURATION   # start_load's, for these scenarios only
    ha_setup
    ha_kill_postmaster
    hax wait 60 || log "no leader with a synchronous replica after 60 s"
    ha_switchover
    ha_kill_etcd
    ha_rejoin
    hax wait 60 || log "no leader with a synchronous replica after 60 s"
    ha_partition
}
