#!/usr/bin/env bash
# `make api-check`: schemathesis (from PyPI, into .venv-api/) against a running `ktrdr serve`, driven by
# the OpenAPI document the server itself serves: no answer may be a 5xx, and every answer must match
# the schema documented for it. Uses a database of its own (ktrdr_api_check, re-created) on the server
# DATABASE_URL names, else on the embedded cluster, with a `ktrdr ticker` beside the server so that
# /api/v1/health answers 200.
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
venv=.venv-api
# A brand-new Debian machine may lack the venv module, curl or psql: installed here (as root).
missing=()
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
command -v curl >/dev/null || missing+=(curl)
command -v psql >/dev/null || missing+=(postgresql-client)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "Installing ${missing[*]} …" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "make api-check needs ${missing[*]}: install them" >&2
    exit 1
  fi
fi
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  echo "Installing schemathesis $SCHEMATHESIS_VERSION into $venv/ …" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION"
fi

cargo build -q -p ktrdr-cli
ktrdr=target/debug/ktrdr
logs=target/api-check
mkdir -p "$logs"

if [ -z "${DATABASE_URL:-}" ]; then
  "$ktrdr" db up
  DATABASE_URL=$("$ktrdr" db url)
fi
check_url=$("$venv/bin/python" - "$DATABASE_URL" <<'PY'
import sys, urllib.parse as u
print(u.urlunsplit(u.urlsplit(sys.argv[1])._replace(path="/ktrdr_api_check")))
PY
)
psql -q "$DATABASE_URL" -c 'DROP DATABASE IF EXISTS ktrdr_api_check WITH (FORCE)' -c 'CREATE DATABASE ktrdr_api_check'
export DATABASE_URL="$check_url"
unset KTRDR_API_TOKEN KTRDR_API_BIND

"$ktrdr" migrate >/dev/null
"$ktrdr" --no-migrate ticker >"$logs/ticker.log" 2>&1 &
ticker=$!
"$ktrdr" --no-migrate serve --bind 127.0.0.1:0 >"$logs/serve.log" 2>&1 &
server=$!
trap 'kill $server $ticker 2>/dev/null || true; wait $server $ticker 2>/dev/null || true' EXIT

base=""
for _ in $(seq 1 300); do
  base=$(sed -n 's/^ktrdr API listening on \(http:[^ ]*\).*/\1/p' "$logs/serve.log")
  [ -n "$base" ] && curl -fs "$base/api/v1/health" >/dev/null && break
  sleep 0.1
done
[ -n "$base" ] || { echo "ktrdr serve did not start:" >&2; cat "$logs/serve.log" >&2; exit 1; }
curl -fs "$base/api/v1/health" >/dev/null || { echo "health is not 200 with a ticker running" >&2; exit 1; }

"$venv/bin/schemathesis" run "$base/api/v1/openapi.json" --url "$base" \
  --checks not_a_server_error,response_schema_conformance \
  --max-examples "${API_CHECK_EXAMPLES:-40}" --request-timeout 15 --seed "${API_CHECK_SEED:-1}" \
  --no-color
