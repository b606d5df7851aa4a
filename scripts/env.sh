# Shared settings for the project's scripts; sourced, never run. Every path is inside the checkout.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DATA_DIR="$ROOT/.data"                       # gitignored: cluster, sockets, pid files, logs, secrets
PGDATA_DIR="$DATA_DIR/pg"
SOCKET_DIR="$DATA_DIR/run"
LOG_DIR="$DATA_DIR/log"
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
DB_PORT=${PLATFORM_DB_PORT:-55432}           # local cluster port (127.0.0.1 and the socket); never 5432
DB_NAME=${PLATFORM_DB_NAME:-platform}
TEST_DB_NAME=${PLATFORM_TEST_DB_NAME:-platform_test}
GATEWAY_BIN=${GATEWAY_BIN:-$ROOT/.build/release/gateway}
# Superuser access for DBAs and migrations: over the project's unix socket only.
admin_uri() { echo "postgresql://postgres@/${1:-$DB_NAME}?host=$SOCKET_DIR&port=$DB_PORT"; }
as_postgres() { runuser -u postgres -- "$@"; }
log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
# The record of a benchmark run kept in git: its plain-text summary ($2) as Markdown at $3, titled $1.
markdown_record() { { printf '# %s\n\n```\n' "$1"; cat "$2"; printf '```\n'; } >"$3"; }
