#!/usr/bin/env bash
# Proves the runtime image's files without a Docker engine: lays out what the Dockerfile's runtime
# stage carries (scripts/runtime-layout.sh) in a scratch root together with only the base image's
# system libraries (libc, libm, libstdc++, libgcc_s …, all in debian:bookworm-slim), then, chrooted
# there with an empty environment (no LD_LIBRARY_PATH), runs `ktrdr-worker --version`,
# `ktrdr-worker-torch --version`, `ktrdr --version`, and a `ktrdr-worker --types training` (which
# execs ktrdr-worker-torch) that completes a one-epoch training. A library missing from the layout,
# or a RUNPATH pointing back at the build machine, fails here. Needs root (chroot), the built
# binaries (BIN_DIR, default target/debug) and a PostgreSQL at DATABASE_URL.
set -euo pipefail
cd "$(dirname "$0")/.."
bin_dir=${1:-target/debug}
: "${DATABASE_URL:?set DATABASE_URL to a PostgreSQL the check may create a database on}"
# The server's URL, kept: DATABASE_URL names the check's own database further down, and a
# database cannot be dropped over a connection to itself.
server_url=$DATABASE_URL
if ! command -v patchelf >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq patchelf >/dev/null \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq patchelf >/dev/null; }
fi
root=$(mktemp -d /tmp/ktrdr-runtime-XXXXXX)
db=ktrdr_runtime_check_$$
cleanup() {
  [ -n "${worker_pid:-}" ] && kill "$worker_pid" 2>/dev/null || true
  psql "$server_url" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  umount "$root/proc" 2>/dev/null || true
  rm -rf "$root"
}
trap cleanup EXIT

scripts/runtime-layout.sh "$bin_dir" "$root/opt/ktrdr"
# The base image's part: the system libraries the binaries link, nothing from .libtorch.
for lib in $(ldd "$root/opt/ktrdr/bin/ktrdr-worker-torch" "$root/opt/ktrdr/bin/ktrdr-worker" "$root/opt/ktrdr/bin/ktrdr" | awk '/=> \/(usr\/)?lib/ {print $3}' | sort -u) /lib64/ld-linux-x86-64.so.2; do
  mkdir -p "$root$(dirname "$lib")" && cp -L "$lib" "$root$lib"
done
mkdir -p "$root/tmp" "$root/work" "$root/etc" && chmod 1777 "$root/tmp"
echo "hosts: files" > "$root/etc/nsswitch.conf"
# As in a container: glibc resolves the main program's $ORIGIN through /proc/self/exe.
mkdir -p "$root/proc" && mount -t proc proc "$root/proc"
# And the devices every container has (libtorch seeds from /dev/urandom).
mkdir -p "$root/dev" && mknod -m 666 "$root/dev/null" c 1 3 && mknod -m 666 "$root/dev/urandom" c 1 9
runpath=$(patchelf --print-rpath "$root/opt/ktrdr/bin/ktrdr-worker-torch")
[ "$runpath" = '$ORIGIN/../lib' ] || { echo "check-runtime-image: ktrdr-worker-torch's RUNPATH is $runpath" >&2; exit 1; }
if ldd "$root/opt/ktrdr/bin/ktrdr-worker" | grep -q torch; then
  echo "check-runtime-image: ktrdr-worker links libtorch; only ktrdr-worker-torch may" >&2; exit 1
fi
in_root() { env -i HOME=/work KTRDR_HOME=/work/.ktrdr "$(command -v chroot)" "$root" "$@"; }
# (exec: run in the background, the worker itself is $!, so the cleanup's kill reaches it.)
in_root_db() { exec env -i HOME=/work KTRDR_HOME=/work/.ktrdr DATABASE_URL="$DATABASE_URL_IN_ROOT" "$(command -v chroot)" "$root" "$@"; }
in_root /opt/ktrdr/bin/ktrdr-worker --version
in_root /opt/ktrdr/bin/ktrdr-worker-torch --version
in_root /opt/ktrdr/bin/ktrdr --version

psql "$server_url" -qc "CREATE DATABASE $db"
url=$(python3 -c "import sys,urllib.parse as u; p=u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path='/$db')))" "$server_url")
export DATABASE_URL=$url
"$bin_dir/ktrdr" migrate >/dev/null
"$bin_dir/ktrdr" --no-migrate data synth --start 2022-01-01 --end 2022-03-01 >/dev/null
sed 's/^\(\s*epochs:\).*/\1 1/' strategies/rsi_macd_trend.yaml > "$root/tmp/strategy.yaml"
DATABASE_URL_IN_ROOT="$url" in_root_db /opt/ktrdr/bin/ktrdr-worker --no-migrate --types training --worker-id runtime-check \
  > "$root/tmp/worker.log" 2>&1 &
worker_pid=$!
id=$("$bin_dir/ktrdr" --no-migrate train "$root/tmp/strategy.yaml" --start 2022-01-01 --end 2022-03-01 | tail -1)
for _ in $(seq 1 300); do
  status=$(psql "$url" -Atc "SELECT status FROM ktrdr.operations WHERE operation_id = '$id'")
  case "$status" in
    completed) echo "check-runtime-image: training $id completed in the runtime layout"; exit 0 ;;
    failed|cancelled) echo "check-runtime-image: training $id $status" >&2; cat "$root/tmp/worker.log" >&2; exit 1 ;;
  esac
  kill -0 "$worker_pid" 2>/dev/null || { echo "check-runtime-image: the worker exited" >&2; cat "$root/tmp/worker.log" >&2; exit 1; }
  sleep 1
done
echo "check-runtime-image: training $id did not finish in 300 s" >&2; cat "$root/tmp/worker.log" >&2; exit 1
