#!/usr/bin/env bash
# Installs libtorch — the PyPI wheel torch==2.13.0, which tch 0.26 expects — into .libtorch/ when it is
# missing. CPU-only use needs just the CUDA runtime and CUPTI libraries that the wheel links against,
# not the whole CUDA stack, hence --no-deps and the two nvidia packages. .cargo/config.toml points
# LIBTORCH at .libtorch/torch, and the worker's build.rs sets an rpath, so nobody sets LD_LIBRARY_PATH.
set -euo pipefail
cd "$(dirname "$0")/.."

target=.libtorch
if [ -f "$target/torch/lib/libtorch_cpu.so" ]; then
  exit 0
fi
echo "Installing libtorch (torch==2.13.0 from PyPI) into $target/ …" >&2
python3 -m pip install --quiet --disable-pip-version-check --no-deps --target "$target" \
  torch==2.13.0 nvidia-cuda-runtime==13.0.96 nvidia-cuda-cupti==13.0.85
test -f "$target/torch/lib/libtorch_cpu.so"
