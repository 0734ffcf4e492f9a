#!/usr/bin/env bash
# Checks docker-compose.yml and deploy/k8s/ offline against the built binaries (BIN_DIR, default
# target/debug): scripts/check-deploy.py, with PyYAML in a virtual environment of its own when the
# system's Python lacks it.
set -euo pipefail
cd "$(dirname "$0")/.."
bin_dir=${1:-target/debug}
python=python3
if ! python3 -c 'import yaml' 2>/dev/null; then
  venv=target/deploy-check-venv
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check pyyaml
  python=$venv/bin/python
fi
exec "$python" scripts/check-deploy.py "$bin_dir"
