#!/usr/bin/env bash
# Claim latency against the number of pending operations: for each N in CLAIM_PENDING (default
# "1000 1000000"), a scratch database on the configured server (DATABASE_URL, else the machine's
# PostgreSQL at 127.0.0.1:5432) gets N pending dummy operations, then pgbench calls
# `ktrdr.claim_operations(worker, types, 1, 60)` in a transaction that is rolled back (so the queue
# stays at N) for CLAIM_SECONDS (default 5) on one client, for one type and for three. Prints the
# average latency of each. Needs psql and pgbench, and a built `ktrdr` (target/release or
# target/debug) to migrate the scratch database.
set -euo pipefail
cd "$(dirname "$0")/.."

admin="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
seconds="${CLAIM_SECONDS:-5}"
ktrdr=target/release/ktrdr
[ -x "$ktrdr" ] || ktrdr=target/debug/ktrdr
[ -x "$ktrdr" ] || { echo "build ktrdr first: cargo build --release -p ktrdr-cli" >&2; exit 1; }

db="ktrdr_claim_bench_$$"
url="${admin%/*}/$db"
psql -qAt "$admin" -c "CREATE DATABASE $db"
trap 'psql -qAt "$admin" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"' EXIT
DATABASE_URL="$url" "$ktrdr" migrate >/dev/null

script="$(mktemp)"
trap 'rm -f "$script"; psql -qAt "$admin" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"' EXIT
pending=0
for n in ${CLAIM_PENDING:-1000 1000000}; do
  if [ "$n" -gt "$pending" ]; then
    psql -qAt "$url" -c "SELECT count(*) FROM ktrdr.submit_operations('dummy', $((n - pending)))" >/dev/null
    psql -qAt "$url" -c "VACUUM ANALYZE ktrdr.operations"
    pending=$n
  fi
  for types in '{dummy}' '{dummy,training,backtesting}'; do
    printf 'BEGIN;\nSELECT * FROM ktrdr.claim_operations(%s, %s, 1, 60);\nROLLBACK;\n' "'w'" "'$types'" >"$script"
    latency=$(pgbench -n -c 1 -T "$seconds" -f "$script" "$url" 2>/dev/null | awk '/latency average/ {print $4}')
    printf '%9d pending, types %-30s claim of one: %8s ms (average over %s s)\n' "$n" "$types" "$latency" "$seconds"
  done
done
