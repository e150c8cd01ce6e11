#!/usr/bin/env bash
# The explorer under Xvfb: it starts, opens a real face with a baseline and
# an LACNN model, fills every panel, exports PNG, SVG and PDF (each checked
# to be a valid, non-empty file with its JSON sidecar), saves a screenshot
# and quits cleanly.  Then the headless path writes the same figure.
set -euo pipefail
app="$TS_BUILD_ROOT/src/app/traitscope"
cli="$TS_BUILD_ROOT/src/cli/traitscope-cli"
face="$TS_SHARED_DATA/celebahq/images/1.jpg"
command -v xvfb-run >/dev/null || { echo "SKIP: xvfb-run not installed (apt-get install xvfb)"; exit 77; }
[ -x "$app" ] || { echo "SKIP: the app was not built (no GTK 4)"; exit 77; }
[ -f "$face" ] || { echo "SKIP: no face data at $face"; exit 77; }
# The app finds faces with face-api's detector and dlib's landmark model.
# Ask the program itself (its own search path: $TRAITSCOPE_MODELS,
# node_modules, /usr/share/dlib): a model file it cannot find is a skip,
# any other failure a failure.
if ! probe=$("$cli" landmarks --device cpu "$face" 2>&1 >/dev/null); then
  case $probe in
    *"model file "*" not found"*) echo "SKIP: $probe"; exit 77 ;;
    *) echo "$probe"; echo "FAIL: traitscope-cli landmarks $face"; exit 1 ;;
  esac
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export XDG_CONFIG_HOME="$tmp/config"
"$cli" init --arch "$TS_SOURCE_ROOT/tests/app/tiny.arch" --in-channels 3 --classes 2 --size 150 --seed 1 --out "$tmp/base.safetensors" >/dev/null
"$cli" init --arch "$TS_SOURCE_ROOT/tests/app/tiny.arch" --in-channels 4 --classes 2 --size 150 --seed 2 --out "$tmp/lacnn.safetensors" >/dev/null

fail=0
check() { if "$@"; then echo "ok: ${*: -1}"; else echo "FAIL: $*"; fail=1; fi; }
valid() {
  local f=$1 kind=$2
  [ -s "$f" ] && [ "$(stat -c %s "$f")" -gt 2000 ] || return 1
  case $kind in
    png) [ "$(head -c 8 "$f" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] ;;
    svg) grep -q '<svg' "$f" && tail -c 200 "$f" | grep -q '</svg>' ;;
    pdf) head -c 5 "$f" | grep -q '%PDF-' && tail -c 64 "$f" | grep -q '%%EOF' ;;
  esac
}
json() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["models"][0]["sha256"], "no model hash"' "$1"; }

dbus-run-session -- xvfb-run -a -s "-screen 0 1600x1000x24" \
  "$app" --model "$tmp/base.safetensors" --model "$tmp/lacnn.safetensors" \
  --export "$tmp/fig.png" --export "$tmp/fig.svg" --export "$tmp/fig.pdf" \
  --screenshot "$tmp/shot.png" --quit "$face" >"$tmp/log" 2>&1 || { cat "$tmp/log"; echo "FAIL: the app exited with an error"; exit 1; }
for k in png svg pdf; do
  check valid "$tmp/fig.$k" $k
  check json "$tmp/fig.$k.json"
done
check valid "$tmp/shot.png" png
if grep -qi 'critical\|assert' "$tmp/log"; then cat "$tmp/log"; echo "FAIL: GTK criticals"; fail=1; fi

# --wait-predictions: the screenshot waits for the browser's predictions
dbus-run-session -- xvfb-run -a -s "-screen 0 1600x1000x24" \
  "$app" --model "$tmp/base.safetensors" --model "$tmp/lacnn.safetensors" \
  --screenshot "$tmp/shot2.png" --wait-predictions --quit "$face" >"$tmp/log3" 2>&1 || { cat "$tmp/log3"; echo "FAIL: the app exited with an error"; exit 1; }
check valid "$tmp/shot2.png" png
check grep -q "browser predictions done" "$tmp/log3"
check test "$(grep -n 'browser predictions done' "$tmp/log3" | cut -d: -f1)" -lt "$(grep -n 'screenshot ' "$tmp/log3" | cut -d: -f1)"

# headless: the same figure without a display
env -u DISPLAY -u WAYLAND_DISPLAY "$app" --model "$tmp/base.safetensors" --model "$tmp/lacnn.safetensors" --out "$tmp/headless.pdf" "$face" > "$tmp/hl.log"
check valid "$tmp/headless.pdf" pdf
check grep -q "wrote the default view" "$tmp/hl.log"

# a broken image opened in the app is reported in the window, not a crash
printf 'not a jpeg' > "$tmp/broken.jpg"
dbus-run-session -- xvfb-run -a -s "-screen 0 1600x1000x24" \
  "$app" --model "$tmp/base.safetensors" --screenshot "$tmp/broken.png" --quit "$tmp/broken.jpg" >"$tmp/log2" 2>&1 || true
check grep -q "broken.jpg" "$tmp/log2"
check valid "$tmp/broken.png" png

[ $fail = 0 ] && echo "app: all checks passed"
exit $fail
