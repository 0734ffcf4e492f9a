#!/usr/bin/env bash
# Training and backtest figures (`make bench`): for each thread count in BENCH_THREADS (default
# "1 2"), the training benchmark (`ktrdr-bench training`) trains the example
# strategy on 35,000 synthetic 1h bars and backtests it, exporting the exact training data; then
# bench/train_baseline.py trains the same MLP on that data with a plain PyTorch loop and the same
# thread count. Prints both and the ratio (Rust epoch time / PyTorch epoch time; below 1 is faster).
#
# Importing torch from Python needs the CUDA libraries its wheel links against (the worker links
# libtorch_cpu only, so `make libtorch` skips them); they go into .libtorch/python-deps when missing.
# Nothing runs on a GPU. With the first thread count the benchmark also times checkpoint saves and a real
# worker's resume latency in a scratch database (`--database`; DATABASE_URL or the embedded cluster).
set -euo pipefail
cd "$(dirname "$0")/.."

bench=target/release/ktrdr-bench
epochs="${BENCH_EPOCHS:-5}"
export PYTHONPATH=".libtorch:.libtorch/python-deps${PYTHONPATH:+:$PYTHONPATH}"

# The benchmark starts the release ktrdr-worker (which execs ktrdr-worker-torch) for its
# resume-latency cycles.
[ -x "$bench" ] && [ -x target/release/ktrdr-worker-torch ] || cargo build --release -p ktrdr-bench -p ktrdr-worker -p ktrdr-worker-torch

if ! python3 -c 'import torch' >/dev/null 2>&1; then
  echo "Installing the CUDA libraries torch's Python module loads into .libtorch/python-deps …" >&2
  # The versions torch==2.13.0 pins (cuda-toolkit 13.0.3 and its own requirements).
  python3 -m pip install --quiet --disable-pip-version-check --no-deps --target .libtorch/python-deps \
    nvidia-cublas==13.1.1.3 nvidia-cuda-nvrtc==13.0.88 nvidia-cufft==12.0.0.61 \
    nvidia-cufile==1.15.1.6 nvidia-curand==10.4.0.35 nvidia-cusolver==12.0.4.66 \
    nvidia-cusparse==12.6.3.3 nvidia-nvjitlink==13.0.88 nvidia-cudnn-cu13==9.20.0.48 \
    nvidia-cusparselt-cu13==0.8.1 nvidia-nccl-cu13==2.29.7 nvidia-nvshmem-cu13==3.4.5
fi

data="$(mktemp -d)"
trap 'rm -rf "$data"' EXIT

first=1
for threads in ${BENCH_THREADS:-1 2}; do
  # Checkpoint saves and resume latency need the database: timed once, with the first thread count.
  database=()
  [ "$first" = 1 ] && database=(--database)
  first=0
  "$bench" training --threads "$threads" --epochs "$epochs" --export "$data" --json "${database[@]}" \
    >"$data/rust.json"
  python3 bench/train_baseline.py --data "$data" --threads "$threads" --epochs "$epochs" --json \
    >"$data/torch.json"
  python3 - "$data/rust.json" "$data/torch.json" <<'EOF'
import json, sys
rust, torch = (json.load(open(path)) for path in sys.argv[1:3])
bt = rust["backtest"]
ratio = rust["median_epoch_seconds"] / torch["median_epoch_seconds"]
print(f"Training: {rust['strategy']}, {rust['train_rows']} train rows x {rust['features']} features, "
      f"batch {rust['batch_size']}, {rust['threads']} thread(s), median of {len(rust['epoch_seconds'])} epochs")
print(f"  ktrdr (tch)            {rust['median_epoch_seconds']:>8.3f} s/epoch")
print(f"  PyTorch (Python loop)  {torch['median_epoch_seconds']:>8.3f} s/epoch")
print(f"  ratio ktrdr / PyTorch  {ratio:>8.2f}")
print(f"Backtest: {rust['bars']} bars, median of {bt['runs']} runs, {bt['trades']} trades")
print(f"  features + forward     {bt['predict_seconds'] * 1e3:>8.2f} ms  "
      f"(features alone {bt['features_seconds'] * 1e3:.2f} ms)")
print(f"  engine                 {bt['engine_seconds'] * 1e3:>8.2f} ms")
print(f"  total                  {bt['total_seconds'] * 1e3:>8.2f} ms  ({bt['bars_per_second']:,.0f} bars/s)")
cp, db = rust["checkpoint"], rust.get("database")
print(f"Checkpoints: {cp['tensor_bytes']} bytes of tensors, every {cp['interval_epochs']} epochs")
print(f"  capture                {cp['capture_seconds'] * 1e3:>8.3f} ms  "
      f"(epoch-boundary copy {cp['boundary_copy_seconds'] * 1e3:.3f} ms)")
if db:
    print(f"  save (database store)  {db['save_database_store_seconds'] * 1e3:>8.3f} ms  "
          f"(directory store {db['save_directory_store_seconds'] * 1e3:.3f} ms), median of {db['saves']}")
    print(f"  overhead               {cp['overhead_share_with_save'] * 100:>8.4f} %   of training time")
    print(f"  resume latency         {db['resume_to_first_epoch_seconds']:>8.3f} s   to the first new epoch "
          f"({db['resume_to_claim_seconds'] * 1e3:.0f} ms to the claim), median of {len(db['resume_samples'])}")
EOF
done
