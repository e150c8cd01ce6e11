#!/usr/bin/env bash
# The README's first command: install what is needed, build, and open the
# Traitscope explorer on its embedded default (bundled sample faces and
# models).  Without a display, or with --headless, the same default view is
# written to a figure file instead.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
if [ -d build ]; then meson setup --reconfigure build >/dev/null; else meson setup build; fi
ninja -C build
if [ -x build/src/app/traitscope ]; then
  exec build/src/app/traitscope "$@"
fi
exec bash tools/demo.sh "$@"
