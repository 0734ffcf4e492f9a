#!/usr/bin/env bash
# Makes sure a headless chromium is installed for the test that renders `ktrdr results --html`
# pages in a real browser (cli/tests/results_pages.rs); on Debian/Ubuntu as root, installs Debian's
# chromium package. Without apt it says so loudly and carries on: that one test then skips.
set -euo pipefail

if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing chromium (Debian package) for the HTML page test …" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium >/dev/null
  exit 0
fi
cat >&2 <<'MESSAGE'
################################################################################
# WARNING: chromium is not installed and apt-get is not available (or not root):  #
# the test rendering `ktrdr results --html` pages in a real browser will SKIP.     #
# Install chromium (e.g. `sudo apt-get install chromium`) to run it.               #
################################################################################
MESSAGE
