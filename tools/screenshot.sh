#!/usr/bin/env bash
# Renders the explorer's main window with faces loaded to a PNG, under Xvfb
# (the screenshots of docs/guide.md are made with it).
#   tools/screenshot.sh OUT.png [traitscope arguments: --model A --model B IMAGE...]
# Without arguments after OUT.png, the embedded default is shown (whatever
# models the window last had: the user's settings are left out).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: tools/screenshot.sh OUT.png [traitscope args...]}
shift
case $out in /*) ;; *) out="$PWD/$out" ;; esac
app=build/src/app/traitscope
[ -x "$app" ] || { echo "screenshot: build the app first (bash tools/test.sh or ninja -C build)" >&2; exit 1; }
# A settings folder of its own: the window restores the models and dataset
# a user last opened (~/.config/traitscope/state.ini), and a screenshot of
# the embedded default must not show them.
cfg=$(mktemp -d)
trap 'rm -rf "$cfg"' EXIT
XDG_CONFIG_HOME=$cfg dbus-run-session -- xvfb-run -a -s "-screen 0 1600x1000x24" "$app" --screenshot "$out" --wait-predictions --quit "$@"
