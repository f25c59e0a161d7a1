#!/usr/bin/env bash
# Makes Debian's chromium available for the panel's browser test (tests/admin_ui/test_panel_browser.py).
# Idempotent: does nothing when /usr/bin/chromium exists. Installs it with apt-get when running as root
# on a system with apt; otherwise says why not and exits 0 — the test then skips with that reason.
# playwright itself (the Python package) comes from requirements-dev.txt; its own browser downloads
# are never used: the test drives the system chromium.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "setup_browser: chromium is missing and this is not root; the browser test will be skipped" \
       "(install it with: sudo apt-get install -y chromium)" >&2
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup_browser: chromium is missing and apt-get is not available; the browser test will be skipped" >&2
  exit 0
fi
echo "setup_browser: installing chromium with apt-get" >&2
if ! { DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium \
       || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; }; }; then
  echo "setup_browser: apt-get could not install chromium (offline?); the browser test will be skipped" >&2
fi
exit 0
