#!/usr/bin/env bash
# test-utk-groups.sh - tools/utk-groups.py: UTKFace gender accuracy by age
# band and ethnicity x gender, from eval --per-image lines.  Four lines with
# UTKFace names (a 25-year-old black woman right and wrong, a 5-year-old
# boy right, an 80-year-old white man wrong) and two it cannot use (a name
# without the race field, as two UTKFace files have, and a broken line).
set -u
src=${TS_SOURCE_ROOT:-.}
command -v python3 > /dev/null || { echo "SKIP: no python3"; exit 77; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
line() { printf '{"path":"x/%s","row":0,"traits":{"gender":{"label":"male","prediction":"male","correct":%s}}}\n' "$1" "$2"; }
{
  line 25_1_1_20170116.jpg.chip.jpg true
  line 25_1_1_20170117.jpg.chip.jpg false
  line 5_0_0_20170116.jpg.chip.jpg true
  line 80_0_0_20170116.jpg.chip.jpg false
  line 39_1_20170116174525125.jpg.chip.jpg true
  echo '{"path": broken'
} > "$dir/e.jsonl"
fail=0
out=$(python3 "$src/tools/utk-groups.py" "$dir/e.jsonl" 2> "$dir/err") || { echo "FAIL: exit $?"; fail=1; }
check() { grep -qF -- "$1" <<< "$out" || { echo "FAIL: no '$1' in:"; echo "$out"; fail=1; }; }
check '| all | 50.0 % (4) |'
check '| ages 0-12 | 100.0 % (1) |'
check '| ages 20-39 | 50.0 % (2) |'
check '| ages 60+ | 0.0 % (1) |'
check '| black female (20-59) | 50.0 % (2) |'
grep -q '2 line(s) without a UTKFace name' "$dir/err" || { echo "FAIL: the unusable lines are not reported"; cat "$dir/err"; fail=1; }
python3 "$src/tools/utk-groups.py" "$dir/none.jsonl" 2> "$dir/err2"
[ $? = 1 ] && grep -q 'none.jsonl' "$dir/err2" || { echo "FAIL: a missing file is not named"; fail=1; }
json=$(python3 "$src/tools/utk-groups.py" "$dir/e.jsonl" --json 2> /dev/null)
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); g=list(d.values())[0]["all"]; lo,hi=g["ci95"]; assert g["n"]==4 and lo<0.5<hi' "$json" \
  || { echo "FAIL: --json"; fail=1; }
[ $fail = 0 ] && echo "utk-groups: ok"
exit $fail
