#!/usr/bin/env bash
# Applies migrations/ and sql/ to a database of the local cluster with `gateway migrate`.
# usage: scripts/migrate.sh [DBNAME] [debug|release]   (default: the main database, release build)
set -euo pipefail
source "$(dirname "$0")/env.sh"
db=${1:-$DB_NAME}
config=${2:-release}
cd "$ROOT"
"$ROOT/.build/$config/gateway" migrate --db-uri "$(admin_uri "$db")" --migrations migrations --sql sql
