#!/usr/bin/env bash
# The Python the model-export check runs on (scripts/model_export_check.py, driven by
# cli/tests/model_export.rs): a virtual environment .venv-export/ with safetensors and numpy from
# PyPI, and deliberately no torch — the check proves an exported model runs without ktrdr or
# libtorch. Idempotent: does nothing when the pinned versions are already there. `make test` runs it.
set -euo pipefail
cd "$(dirname "$0")/.."

SAFETENSORS_VERSION=0.8.0
NUMPY_VERSION=2.4.6
venv=.venv-export

# A brand-new Debian machine may lack the venv module: installed here (as root).
if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "Installing python3-venv …" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
  else
    echo "the model-export check needs python3-venv: install it" >&2
    exit 1
  fi
fi
wanted="safetensors $SAFETENSORS_VERSION numpy $NUMPY_VERSION"
have=$("$venv/bin/python" -c 'import safetensors, numpy; print("safetensors", safetensors.__version__, "numpy", numpy.__version__)' 2>/dev/null || true)
if [ "$have" != "$wanted" ]; then
  echo "Installing $wanted into $venv/ …" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check \
    "safetensors==$SAFETENSORS_VERSION" "numpy==$NUMPY_VERSION"
fi
