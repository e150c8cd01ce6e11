#!/usr/bin/env bash
# Sets up, builds and runs every test (the README's second command).
# Extra arguments go to `meson test` (e.g. --suite nn).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
if [ -d build ]; then meson setup --reconfigure build >/dev/null; else meson setup build; fi
ninja -C build
rc=0
meson test -C build --print-errorlogs "$@" || rc=$?
python3 tools/test-summary.py build tests || true
exit $rc
