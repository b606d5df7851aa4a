#!/usr/bin/env bash
# Hostile input from the OpenAPI document: schemathesis generates requests (valid and invalid)
# for every operation of the document the gateway serves at `/`, once per caller role (anonymous, then
# app_user, worker, operator tokens), and fails on any 5xx and on any response the document does not
# describe (status, content type, headers, body schema).
# usage: scripts/schemathesis.sh [DBNAME]   (default: the test database, platform_test)
#   GATEWAY_BIN            the gateway binary (test.sh: .build/debug/gateway)
#   SCHEMATHESIS_EXAMPLES  test cases per operation and phase (default 20: about a minute on 2 cores)
#   SCHEMATHESIS_SEED      the random seed (default 10: the same cases every run; change it to explore)
# Starts its own gateway on a free 127.0.0.1 port with a fresh jwt-secret, stops it by pid at the end.
# Last line: `schemathesis: N passed, M failed` (N, M: operations x roles).
set -euo pipefail
source "$(dirname "$0")/env.sh"
db=${1:-$TEST_DB_NAME}
examples=${SCHEMATHESIS_EXAMPLES:-20}
seed=${SCHEMATHESIS_SEED:-10}
cd "$ROOT"
[ -x "$GATEWAY_BIN" ] || die "gateway binary not found: $GATEWAY_BIN (set GATEWAY_BIN)"
python3 -c 'import schemathesis' 2>/dev/null || die "schemathesis not installed (scripts/deps.sh installs it)"

work=$(mktemp -d "${TMPDIR:-/tmp}/schemathesis.XXXXXX")
gateway_pid=
cleanup() {
    if [ -n "$gateway_pid" ] && kill -0 "$gateway_pid" 2>/dev/null; then
        kill -TERM "$gateway_pid"
        for _ in $(seq 100); do kill -0 "$gateway_pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$gateway_pid" 2>/dev/null && kill -KILL "$gateway_pid"
    fi
    rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=$(free_port)
admin_port=$(free_port)
[ "$port" != "$admin_port" ] || admin_port=$(free_port)

(umask 077
 head -c 48 /dev/urandom | base64 | tr -d '\n/+=' >"$work/jwt.secret"
 cat >"$work/gateway.conf" <<CONF
db-uri = "postgresql://authenticator@/$db?host=$SOCKET_DIR&port=$DB_PORT&application_name=schemathesis"
db-schemas = "api"
db-anon-role = "web_anon"
db-pool = 4
db-pool-acquisition-timeout = 10
jwt-secret = "@$work/jwt.secret"
server-host = "127.0.0.1"
server-port = $port
admin-server-port = $admin_port
log-level = "error"
# Every role is tried on every function (401/403 included): the document lists them all.
openapi-mode = "ignore-privileges"
CONF
)
"$GATEWAY_BIN" serve "$work/gateway.conf" >"$work/gateway.log" 2>&1 &
gateway_pid=$!
for _ in $(seq 200); do
    curl -fsS "http://127.0.0.1:$admin_port/ready" >/dev/null 2>&1 && break
    kill -0 "$gateway_pid" 2>/dev/null || { cat "$work/gateway.log" >&2; die "the gateway exited"; }
    sleep 0.1
done
curl -fsS "http://127.0.0.1:$admin_port/ready" >/dev/null 2>&1 || { cat "$work/gateway.log" >&2; die "the gateway is not ready"; }
curl -fsS "http://127.0.0.1:$port/" -o "$work/openapi.json"

token() { "$GATEWAY_BIN" token --role "$1" --sub "schemathesis-$1" --expires 1h --secret-file "$work/jwt.secret"; }

# not_a_server_error, except the one designed 5xx: a function's "come back later" (503 with Retry-After,
# the function's own code such as PT503, never the gateway's PGRST0xx connection errors).
cat >"$work/platform_checks.py" <<'PY'
import schemathesis

@schemathesis.check
def no_unplanned_server_error(ctx, response, case):
    """No 5xx, but a function's own 503 "retry later" with Retry-After."""
    if response.status_code < 500:
        return None
    try:
        code = response.json().get("code", "")
    except Exception:
        code = ""
    planned = (response.status_code == 503 and "retry-after" in response.headers
               and isinstance(code, str) and code != "" and not code.startswith("PGRST"))
    if not planned:
        raise AssertionError(f"server error {response.status_code} (code {code!r})")
    return None
PY
export SCHEMATHESIS_HOOKS=platform_checks PYTHONPATH="$work${PYTHONPATH:+:$PYTHONPATH}"
checks=no_unplanned_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance
passed=0 failed=0
for role in anonymous app_user worker operator; do
    auth=()
    [ "$role" = anonymous ] || auth=(-H "Authorization: Bearer $(token "$role")")
    log "schemathesis as $role ($examples examples per operation)"
    status=0
    # From $work: schemathesis keeps a cache (.schemathesis/) in its working directory.
    (cd "$work" && python3 -m schemathesis.cli run "$work/openapi.json" --url "http://127.0.0.1:$port" "${auth[@]}" \
        --checks "$checks" --max-examples "$examples" --seed "$seed" --workers 2 --no-color \
        --generation-database none --request-timeout 20 --suppress-health-check all \
        --report junit --report-junit-path "$work/$role.xml") >"$work/$role.log" 2>&1 || status=$?
    # Operations that passed and failed, from the JUnit report (one testcase per operation).
    read -r ok bad < <(python3 - "$work/$role.xml" <<'PY'
import sys, xml.etree.ElementTree as ET
try:
    cases = ET.parse(sys.argv[1]).getroot().iter("testcase")
except Exception:
    print(0, 1); sys.exit()
ok = bad = 0
for case in cases:
    if case.find("failure") is not None or case.find("error") is not None: bad += 1
    elif case.find("skipped") is None: ok += 1
print(ok, bad)
PY
    )
    if [ "$status" != 0 ] && [ "$bad" = 0 ]; then bad=1; fi
    passed=$((passed + ok)) failed=$((failed + bad))
    if [ "$bad" != 0 ]; then
        sed -n '/FAILURES\|ERRORS/,$p' "$work/$role.log" | head -150 >&2
        [ -s "$work/$role.log" ] && tail -5 "$work/$role.log" >&2
    fi
    echo "schemathesis as $role: $ok passed, $bad failed"
done
if ! kill -0 "$gateway_pid" 2>/dev/null; then
    echo "the gateway died during the run:" >&2; tail -20 "$work/gateway.log" >&2; failed=$((failed + 1))
fi
echo "schemathesis: $passed passed, $failed failed"
[ "$failed" = 0 ]
