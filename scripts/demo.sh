#!/usr/bin/env bash
# `make demo`: the whole loop on this machine, with nothing set up beforehand.
#   embedded PostgreSQL → two workers → a batch of operations → kill -9 one worker mid-operation →
#   its operation is detected as an orphan when its lease lapses → synthetic market data → training
#   → backtest → results.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=target/release
ktrdr="$bin/ktrdr"
export ORPHAN_TIMEOUT_SECONDS="${ORPHAN_TIMEOUT_SECONDS:-10}"   # short leases, so the demo is quick
logs=.ktrdr/demo
mkdir -p "$logs"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
active_count() { "$ktrdr" --no-migrate ops list --active --json | grep -c '"operation_id"' || true; }

say "Database"
"$ktrdr" db up

say "Starting two workers (concurrency 2 and 1; logs in $logs/)"
"$bin/ktrdr-worker" --worker-id demo-worker-1 --concurrency 2 --types dummy,training,backtesting >"$logs/worker-1.log" 2>&1 &
w1=$!
"$bin/ktrdr-worker" --worker-id demo-worker-2 --concurrency 1 >"$logs/worker-2.log" 2>&1 &
w2=$!
trap 'kill $w1 $w2 2>/dev/null || true' EXIT

say "Submitting 8 dummy operations (10 steps of 300 ms each)"
"$ktrdr" ops submit dummy --params '{"steps":10,"step_ms":300}' --count 8 --max-attempts 1

say "Waiting until demo-worker-2 is halfway through an operation …"
victim=""
for _ in $(seq 1 600); do
  victim=$("$ktrdr" --no-migrate ops list --status running --worker demo-worker-2 --limit 1 --json |
    sed -n 's/^ *"operation_id": "\(.*\)",$/\1/p')
  if [ -n "$victim" ]; then
    percent=$("$ktrdr" --no-migrate ops show "$victim" --json | sed -n 's/^  "progress_percent": \([0-9.]*\),$/\1/p')
    awk -v p="${percent:-0}" 'BEGIN { exit !(p >= 40) }' && break
  fi
  sleep 0.1
done
"$ktrdr" --no-migrate ops list

say "kill -9 demo-worker-2 (pid $w2) while it runs $victim"
kill -9 "$w2"
wait "$w2" 2>/dev/null || true

say "The other operations finish on demo-worker-1"
while [ "$(active_count)" -gt 1 ]; do sleep 0.5; done
"$ktrdr" --no-migrate ops list
"$ktrdr" --no-migrate workers

say "What became of $victim"
echo "Its worker died, so nobody renews its lease. The ticker running inside demo-worker-1 wakes when"
echo "the lease lapses (ORPHAN_TIMEOUT_SECONDS=$ORPHAN_TIMEOUT_SECONDS after the last heartbeat) and fails it."
for _ in $(seq 1 600); do
  [ "$("$ktrdr" --no-migrate ops list --status failed --json | grep -c "\"$victim\"")" -gt 0 ] && break
  sleep 0.1
done
"$ktrdr" --no-migrate ops show "$victim"
echo
echo "(Submitted with --max-attempts 2 it would have been re-queued and finished on demo-worker-1 instead.)"
"$ktrdr" --no-migrate health

say "The trading workload: synthetic market data → training → backtest → results"
"$ktrdr" --no-migrate data synth --symbol EURUSD --timeframe 1h --start 2020-01-01 --end 2024-01-01 --seed 42
"$ktrdr" --no-migrate validate strategies/rsi_macd_trend.yaml
training=$("$ktrdr" --no-migrate train strategies/rsi_macd_trend.yaml)
echo "training: $training"
"$ktrdr" --no-migrate status "$training" --follow >/dev/null
"$ktrdr" --no-migrate results "$training"
backtest=$("$ktrdr" --no-migrate backtest strategies/rsi_macd_trend.yaml --model "$training")
echo "backtest: $backtest"
"$ktrdr" --no-migrate status "$backtest" --follow >/dev/null
"$ktrdr" --no-migrate results "$backtest" --trades 10

say "Stopping demo-worker-1 (SIGTERM: graceful)"
kill -TERM "$w1"; wait "$w1" || true
echo "The embedded database keeps running; 'target/release/ktrdr db down' stops it."
