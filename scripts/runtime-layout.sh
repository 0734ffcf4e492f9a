#!/usr/bin/env bash
# Lays out what the runtime image carries: BIN_DIR's ktrdr, ktrdr-worker and ktrdr-worker-torch in
# OUT/bin, and in OUT/lib every shared library they need (found by ldd) that is not part of the base
# image — libtorch's, from .libtorch — with ktrdr-worker-torch's RUNPATH set to $ORIGIN/../lib
# (ktrdr-worker links no libtorch: it execs ktrdr-worker-torch for training and backtesting).
# Usage: scripts/runtime-layout.sh BIN_DIR OUT
set -euo pipefail
bin_dir=$1 out=$2
mkdir -p "$out/bin" "$out/lib"
cp "$bin_dir/ktrdr" "$bin_dir/ktrdr-worker" "$bin_dir/ktrdr-worker-torch" "$out/bin/"
# Libraries found under .libtorch (or any non-system path) travel; the base image's libc, libm,
# libstdc++, libgcc_s and libgomp do not.
ldd "$bin_dir/ktrdr-worker-torch" "$bin_dir/ktrdr-worker" "$bin_dir/ktrdr" | awk '/=> \// {print $3}' | sort -u | while read -r lib; do
  case "$lib" in
    /lib/*|/usr/lib/*|/lib64/*) ;;
    *) cp -L "$lib" "$out/lib/" ;;
  esac
done
command -v patchelf >/dev/null || { echo "runtime-layout: patchelf is needed (apt-get install patchelf)" >&2; exit 1; }
patchelf --set-rpath '$ORIGIN/../lib' "$out/bin/ktrdr-worker-torch"
for lib in "$out"/lib/*.so*; do patchelf --set-rpath '$ORIGIN' "$lib"; done
