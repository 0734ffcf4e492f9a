#!/usr/bin/env bash
# The server's CPU cost of one no-op operation, in instructions: claims and completions of 100
# (ktrdr.claim_operations, ktrdr.complete_operations — what a busy worker sends) run by PostgreSQL in
# single-user mode under callgrind, counted only inside statement execution and commit. Instruction
# counts are the same from run to run whatever else the machine does, so a change to the schema or
# the SQL functions can be judged on a shared 2-core machine where throughput varies by ±15 %.
#
#   scripts/server-instructions.sh [ROUNDS]     # ROUNDS × 100 operations (default 20)
#   EXTRA_SQL='DROP INDEX ktrdr.operations_created' scripts/server-instructions.sh   # try a change
#   KEEP_PROFILE=/tmp/p.out scripts/server-instructions.sh                          # keep the profile
#
# Needs valgrind and PostgreSQL's server programs; builds nothing (uses target/release/ktrdr to
# migrate). Everything happens in a throw-away cluster under a temporary directory.
set -euo pipefail

rounds=${1:-20}
root=$(cd "$(dirname "$0")/.." && pwd)
ktrdr=${KTRDR_BIN:-$root/target/release}/ktrdr
bin=${KTRDR_PG_BIN:-$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -1)")}
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }
[ -x "$bin/postgres" ] || { echo "PostgreSQL's server programs not found: set KTRDR_PG_BIN" >&2; exit 1; }
[ -x "$ktrdr" ] || { echo "$ktrdr not found: cargo build --release -p ktrdr-cli" >&2; exit 1; }

dir=$(mktemp -d /tmp/ktrdr-instructions.XXXXXX)
chmod 755 "$dir"
# initdb and postgres refuse to run as root: run them as the postgres account there.
as_owner() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/bash -c "$*"; else bash -c "$*"; fi; }
[ "$(id -u)" = 0 ] && chown postgres "$dir"
port=$((20000 + RANDOM % 20000))
stop() { as_owner "'$bin/pg_ctl' -D '$dir/data' -m immediate stop" >/dev/null 2>&1 || true; }
trap 'stop; rm -rf "$dir"' EXIT

as_owner "'$bin/initdb' -D '$dir/data' -U postgres --auth=trust" >/dev/null
as_owner "'$bin/pg_ctl' -D '$dir/data' -o '-p $port -k $dir -c listen_addresses=127.0.0.1' -l '$dir/log' -w start" >/dev/null
url="postgres://postgres@127.0.0.1:$port/postgres"
DATABASE_URL=$url "$ktrdr" migrate >/dev/null
[ -z "${EXTRA_SQL:-}" ] || psql -qX "$url" -v ON_ERROR_STOP=1 -c "$EXTRA_SQL" >/dev/null
psql -qX "$url" -v ON_ERROR_STOP=1 >/dev/null <<SQL
SELECT count(*) FROM ktrdr.submit_operations('dummy', $((rounds * 100 + 1000)), '{"steps":1,"step_ms":0}');
VACUUM ANALYZE ktrdr.operations;
VACUUM ANALYZE ktrdr.operation_events;
CHECKPOINT;
SQL
as_owner "'$bin/pg_ctl' -D '$dir/data' -m fast -w stop" >/dev/null

# Each line is one statement (and one transaction) in single-user mode.
for _ in $(seq "$rounds"); do
  echo "SELECT count(*) FROM ktrdr.claim_operations('w', '{dummy}', 100, 60);"
  echo "SELECT count(*) FROM (SELECT array_agg(operation_id) i, array_agg(attempt) a, array_agg('{}'::jsonb) r FROM ktrdr.operations WHERE status = 'running') s, ktrdr.complete_operations('w', s.i, s.a, s.r);"
done > "$dir/work.sql"
chmod 644 "$dir/work.sql"
as_owner "valgrind --tool=callgrind --callgrind-out-file='$dir/callgrind.out' --toggle-collect=PortalRun --toggle-collect=CommitTransactionCommand '$bin/postgres' --single -D '$dir/data' postgres < '$dir/work.sql'" > "$dir/single.log" 2>&1
instructions=$(grep -oP 'Collected : \K[0-9]+' "$dir/single.log")
operations=$((rounds * 100))
echo "server instructions per no-op operation: $((instructions / operations)) ($operations operations, claims and completions of 100)"
if [ -n "${KEEP_PROFILE:-}" ]; then
  cp "$dir/callgrind.out" "$KEEP_PROFILE"
  echo "profile: $KEEP_PROFILE (callgrind_annotate --inclusive=yes $KEEP_PROFILE)"
fi
