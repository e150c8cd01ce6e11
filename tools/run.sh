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
# The app writes the default figure instead of a window when there is no
# display (or with --headless), and says where.
exec build/src/app/traitscope "$@"
