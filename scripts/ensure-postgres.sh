#!/usr/bin/env bash
# Makes sure PostgreSQL's server programs (initdb, pg_ctl) are installed; on Debian/Ubuntu as root,
# installs them from the distribution's packages. ktrdr runs its own project-local cluster with them.
# Also installs pg_cron for that PostgreSQL (Debian's postgresql-N-cron), which tests/pg_cron.rs
# preloads in a throw-away cluster.
set -euo pipefail

ensure_pg_cron() {
  for bin in /usr/lib/postgresql/*/bin; do
    version=$(basename "$(dirname "$bin")")
    if [ ! -f "/usr/lib/postgresql/$version/lib/pg_cron.so" ] && [ "$(id -u)" = 0 ] \
       && command -v apt-get >/dev/null 2>&1; then
      echo "Installing pg_cron (postgresql-$version-cron) …" >&2
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "postgresql-$version-cron" >/dev/null \
        || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "postgresql-$version-cron" >/dev/null; }
    fi
  done
}

if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 \
   || { [ -n "${KTRDR_PG_BIN:-}" ] && [ -x "$KTRDR_PG_BIN/initdb" ]; }; then
  ensure_pg_cron
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing PostgreSQL (Debian packages) …" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq postgresql >/dev/null
  ensure_pg_cron
  exit 0
fi
echo "PostgreSQL is not installed: install it (e.g. 'sudo apt-get install postgresql'), or set DATABASE_URL" >&2
exit 1
