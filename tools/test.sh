#!/usr/bin/env bash
# Sets up, builds and runs every test (the README's second command).
# Extra arguments go to `meson test` (e.g. --suite nn).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
if [ -d build ]; then meson setup --reconfigure build >/dev/null; else meson setup build; fi
ninja -C build
meson test -C build --print-errorlogs "$@"
