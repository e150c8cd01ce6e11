#!/usr/bin/env bash
# results.sh - reruns every number of docs/results.md: the bundled models,
# their evaluation against face-api, Table 3 at convergence and its learning
# curves, and (on a GPU) the paper's exact protocol.
#
# usage: docs/results.sh [STAGE...]      (default: bundle evaluate table3 curves)
#   bundle     train the bundled pair: baseline and LACNN, one net each for
#              the 7 CelebA-HQ traits (recipe of docs/results.md): cycle 1,
#              four second cycles, the wide stage's three cycles; of the
#              runs small enough to bundle (F16 within 5 MiB), the best of
#              each variant by validation
#   evaluate   the bundled pair on the CelebA-HQ test split (figures only:
#              nothing is chosen from them) and on UTKFace gender (never
#              trained on), face-api's gender model on the same images,
#              McNemar's test
#   table3     one net per trait, baseline vs LACNN, 7 CelebA-HQ traits and
#              UTKFace ethnicity; SEEDS="1 2 3" for more seeds (default 1)
#   bn         the recipe with batch normalisation (docs/arch/traitnet-bn.arch):
#              cycle 1 (16 epochs, peak lr 0.004), cycle 2 from it (10
#              epochs, peak 0.002); compared by validation with the bundled pair
#   wide       the recipe on docs/arch/traitnet-wide.arch (every layer 1.5x
#              as wide): cycle 1 (30 epochs), cycle 2 (12, peak lr 0.004)
#              and cycle 3 (10, peak 0.002), both variants; candidates of
#              the bundle stage
#   soup       every bundle run's validation figures (eval --split val) and
#              the greedy soup of the four second-cycle runs of each variant
#              (traitscope-cli soup --greedy, which reads the test split once,
#              at its end); after bundle
#   curves     the validation learning curves of the bundled pair and of table3
#              (docs/images/curves-bundle.svg, docs/images/curves.svg)
#   paper      the paper's exact protocol (AlexNet 150 x 150, the x5
#              rotations, softmax, one net per trait of TRAITS3) with
#              --device cuda; without a GPU a --limit smoke on the CPU,
#              said as such.  The paper gives
#              no learning rate: ours is 0.001 after one warm-up epoch, x0.1
#              every 10 epochs (0.01 diverges with He initialisation)
# Environment: BUILD (build), OUT (/tmp/traitscope-results), DATA
# (../shared/data), SEEDS, EPOCHS3 (table3 epochs, 16), TRAITS3 (table3
# traits, in order; default all eight), NICE (5).
# Every training resumes (--resume): run the script again after an
# interruption and it continues where it stopped.  Models, logs and JSON go
# to $OUT, never into the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
CLI="$BUILD/src/cli/traitscope-cli"
DATA=${DATA:-../shared/data}
OUT=${OUT:-/tmp/traitscope-results}
SEEDS=${SEEDS:-1}
EPOCHS3=${EPOCHS3:-16}
NICE=${NICE:-5}
TRAITS7=gender,emotion,makeup,age,attractive,chubby,hair
mkdir -p "$OUT"
export OMP_WAIT_POLICY=passive
[ -x "$CLI" ] || { echo "results.sh: build first (meson setup $BUILD && ninja -C $BUILD)" >&2; exit 1; }

say() { printf '%s results.sh: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# The recipe (docs/results.md): canonical face frame, one random view per
# face and epoch, cosine schedule with a warm-up epoch, square-root class
# weights, 10% of the training part for model selection.
recipe=(--align similarity --augment random --lr-policy cosine --warmup 1 --lr 0.01 --batch 64
        --class-weights sqrt --val-fraction 0.1 --device cpu --compute-threads 1 --threads 1 --resume)

# pair_run ARCH NAME EPOCHS [OPTION...]: the 7-trait recipe at 112 x 112,
# baseline and LACNN side by side (one core each), to $OUT/NAME.safetensors
# (.json, .log); @V@ in NAME and in the options stands for the variant.
pair_run() {
  local arch=$1 name=$2 epochs=$3
  shift 3
  for v in baseline lacnn; do
    local out="$OUT/${name//@V@/$v}"
    nice -n "$NICE" "$CLI" train --data "celeba:$DATA/celebahq" --trait "$TRAITS7" --loss sigmoid --variant "$v" \
      --arch "$arch" --size 112 --epochs "$epochs" "${recipe[@]}" "${@//@V@/$v}" \
      --out "$out.safetensors" > "$out.json" 2>> "$out.log" &
  done
  wait
}

# show_validation MODEL...: each model's validation mean balanced accuracy.
show_validation() {
  /usr/bin/python3 - "$CLI" "$@" <<'PY'
import json, subprocess, sys
for path in sys.argv[2:]:
    j = json.loads(subprocess.run([sys.argv[1], "info", path], capture_output=True, text=True, check=True).stdout)
    v = j["training"]["validation"]
    print(f"{path}: validation mean balanced {100 * v['mean_balanced_accuracy']:.2f} %")
PY
}

stage_bundle() {
  say "bundle: baseline and LACNN side by side, one core each"
  for v in baseline lacnn; do
    nice -n "$NICE" "$CLI" train --data "celeba:$DATA/celebahq" --trait "$TRAITS7" --loss sigmoid --variant "$v" \
      --arch docs/arch/traitnet.arch --size 112 --epochs 30 "${recipe[@]}" \
      --out "$OUT/bundle-$v-c1.safetensors" > "$OUT/bundle-$v-c1.json" 2>> "$OUT/bundle-$v-c1.log" &
  done
  wait
  say "bundle: first cycle done"
  # A second cosine cycle from the first one's model (--init): 12 epochs,
  # peak learning rate 0.004, with the same views (c2), with the wild ones
  # (c2w: a fifth grey, a third blurred), and with the same views under run
  # seeds 2 and 3 (r2, r3: another order, other views and dropout masks on
  # the same split).  The first cycle's nets were still improving at epoch
  # 30, training accuracy at validation accuracy.
  for run in c2:random:0 c2w:wild:0 r2:random:2 r3:random:3; do
    local c=${run%%:*} rest=${run#*:}
    local views=${rest%%:*} rs=${rest#*:}
    local seed=()
    [ "$rs" = 0 ] || seed=(--run-seed "$rs")
    for v in baseline lacnn; do
      nice -n "$NICE" "$CLI" train --data "celeba:$DATA/celebahq" --trait "$TRAITS7" --loss sigmoid --variant "$v" \
        --arch docs/arch/traitnet.arch --size 112 --epochs 12 "${recipe[@]}" --lr 0.004 --augment "$views" \
        "${seed[@]}" --init "$OUT/bundle-$v-c1.safetensors" \
        --out "$OUT/bundle-$v-$c.safetensors" > "$OUT/bundle-$v-$c.json" 2>> "$OUT/bundle-$v-$c.log" &
    done
    wait
  done
  # The wider net's cycles are candidates too, where they fit.
  stage_wide
  # The bundled model of each variant: among the runs whose F16 file fits
  # the project's limit of 5 MiB per tracked file (2 bytes a parameter and
  # room for the metadata), the one whose selected epoch has the best
  # validation score (mean balanced accuracy); the test split plays no part.
  for v in baseline lacnn; do
    local c
    c=$(/usr/bin/python3 - "$CLI" "$OUT/bundle-$v"-{c1,c2,c2w,r2,r3}.safetensors "$OUT/wide-$v"-{c1,c2,c3}.safetensors <<'PY'
import json, subprocess, sys
def info(path):
    return json.loads(subprocess.run([sys.argv[1], "info", path], capture_output=True, check=True).stdout)
infos = {c: info(c) for c in sys.argv[2:]}
fits = {c: i["parameters"] * 2 <= 5 * 2**20 - 2**17 for c, i in infos.items()}
print("too large to bundle: " + (", ".join(c for c, f in fits.items() if not f) or "none"), file=sys.stderr)
score = {c: i["training"]["validation"]["mean_balanced_accuracy"] for c, i in infos.items() if fits[c]}
print(max(score, key=score.get))
print("validation mean balanced accuracy: " + ", ".join(f"{c} {s:.4f}" for c, s in score.items()), file=sys.stderr)
PY
)
    say "bundle: $v: $c chosen"
    cp "$c" "$OUT/bundle-$v.safetensors.tmp"
    mv "$OUT/bundle-$v.safetensors.tmp" "$OUT/bundle-$v.safetensors"
    "$CLI" convert "$OUT/bundle-$v.safetensors" "$OUT/bundle-$v-f16.safetensors" --f16 > /dev/null
  done
  say "bundle: done; copy $OUT/bundle-{baseline,lacnn}-f16.safetensors to resources/models/{baseline,lacnn}.safetensors"
}

stage_evaluate() {
  for v in baseline lacnn; do
    say "evaluate: $v on the CelebA-HQ test split"
    "$CLI" eval --model "$OUT/bundle-$v.safetensors" --data "celeba:$DATA/celebahq" --json \
      --per-image "$OUT/eval-$v-celebahq.jsonl" > "$OUT/eval-$v-celebahq.json"
    say "evaluate: $v gender on UTKFace (all 10,000; no UTKFace image in training)"
    "$CLI" eval --model "$OUT/bundle-$v.safetensors" --data "utkface:$DATA/utkface" --split all --trait gender \
      --json --per-image "$OUT/eval-$v-utkface.jsonl" > "$OUT/eval-$v-utkface.json"
  done
  "$CLI" compare --baseline "$OUT/bundle-baseline.safetensors" --lacnn "$OUT/bundle-lacnn.safetensors" \
    --data "celeba:$DATA/celebahq" --json > "$OUT/compare-bundle.json"
  if [ ! -d node_modules/@tensorflow/tfjs-backend-wasm ]; then
    say "evaluate: installing face-api's TensorFlow.js devDependencies (npm ci)"
    npm ci --no-audit --no-fund > /dev/null
  fi
  /usr/bin/python3 -c 'import json,sys; [print(json.loads(l)["path"]) for l in open(sys.argv[1])]' \
    "$OUT/eval-lacnn-celebahq.jsonl" > "$OUT/list-celebahq.txt"
  # face-api on the first 2,000 UTKFace rows (all 10,000 would take an hour)
  /usr/bin/python3 -c 'import json,sys; [print(json.loads(l)["path"]) for l in open(sys.argv[1]).readlines()[:2000]]' \
    "$OUT/eval-lacnn-utkface.jsonl" > "$OUT/list-utkface.txt"
  /usr/bin/python3 tools/utk-groups.py "$OUT/eval-baseline-utkface.jsonl" "$OUT/eval-lacnn-utkface.jsonl"
  for d in celebahq utkface; do
    # face-api takes about half a second an image: reuse its answers when
    # they are for exactly these images.
    if [ -s "$OUT/faceapi-$d.jsonl" ] && cmp -s "$OUT/list-$d.txt" <(/usr/bin/python3 -c \
        'import json,sys; [print(json.loads(l)["path"]) for l in open(sys.argv[1])]' "$OUT/faceapi-$d.jsonl"); then
      say "evaluate: face-api's answers for the $d images are already in $OUT/faceapi-$d.jsonl"
    else
      say "evaluate: face-api (wasm) gender on the $d images"
      nice -n "$NICE" node tools/faceapi-gender.js "$BUILD" "$OUT/list-$d.txt" "$OUT/faceapi-$d.jsonl"
    fi
    for v in baseline lacnn; do
      /usr/bin/python3 tools/compare-peer.py "$OUT/eval-$v-$d.jsonl" "$OUT/faceapi-$d.jsonl" --trait gender \
        --json > "$OUT/peer-$v-$d.json"
      /usr/bin/python3 tools/compare-peer.py "$OUT/eval-$v-$d.jsonl" "$OUT/faceapi-$d.jsonl" --trait gender
    done
  done
}

stage_table3() {
  local traits=(${TRAITS3:-gender hair makeup age emotion attractive chubby ethnicity})
  for seed in $SEEDS; do
    for t in "${traits[@]}"; do
      local spec="celeba:$DATA/celebahq"
      [ "$t" = ethnicity ] && spec="utkface:$DATA/utkface"
      say "table3: $t seed $seed"
      for v in baseline lacnn; do
        nice -n "$NICE" "$CLI" train --data "$spec" --trait "$t" --variant "$v" --seed "$seed" \
          --arch docs/arch/traitnet.arch --size 64 --epochs "$EPOCHS3" "${recipe[@]}" \
          --out "$OUT/t3-$t-$v-s$seed.safetensors" > "$OUT/t3-$t-$v-s$seed.json" 2>> "$OUT/t3-$t-$v-s$seed.log" &
      done
      wait
      "$CLI" compare --baseline "$OUT/t3-$t-baseline-s$seed.safetensors" --lacnn "$OUT/t3-$t-lacnn-s$seed.safetensors" \
        --data "$spec" --json > "$OUT/t3-$t-compare-s$seed.json"
    done
  done
  /usr/bin/python3 tools/table3.py "$OUT"
}

stage_curves() {
  # the bundled (plain) pair and the wide pair (not bundled)
  "$CLI" curves --out docs/images/curves-bundle.svg --metric balanced \
    --title "Bundled nets: validation balanced accuracy, mean of 7 traits (cycle 2 after epoch 30 / 28)" \
    "$OUT/bundle-baseline-c2.safetensors" "$OUT/bundle-lacnn-r2.safetensors"
  "$CLI" curves --out docs/images/curves-wide.svg --metric balanced \
    --title "Wide pair (not bundled): validation balanced accuracy, mean of 7 traits" \
    "$OUT/wide-baseline-c3.safetensors" "$OUT/wide-lacnn-c2.safetensors"
  "$CLI" curves --out docs/images/curves.svg --title "Validation accuracy per epoch (Table 3 nets, seed 1)" \
    "$OUT"/t3-*-s1.safetensors
}

stage_paper() {
  local traits=(${TRAITS3:-gender hair makeup age emotion attractive chubby ethnicity})
  if "$CLI" device --device cuda | grep -q '"backend":"cuda"'; then
    for t in "${traits[@]}"; do
      local spec="celeba:$DATA/celebahq"
      [ "$t" = ethnicity ] && spec="utkface:$DATA/utkface"
      say "paper: $t, AlexNet 150 x 150, x5 rotations, on the GPU"
      for v in baseline lacnn; do
        "$CLI" train --data "$spec" --trait "$t" --variant "$v" --arch alexnet --size 150 \
          --augment paper --align none --epochs 30 --batch 50 --lr 0.001 --warmup 1 --lr-step 10 --lr-gamma 0.1 \
          --val-fraction 0.1 --device cuda --resume --out "$OUT/paper-$t-$v.safetensors" \
          > "$OUT/paper-$t-$v.json" 2>> "$OUT/paper-$t-$v.log"
      done
      "$CLI" compare --baseline "$OUT/paper-$t-baseline.safetensors" --lacnn "$OUT/paper-$t-lacnn.safetensors" \
        --data "$spec" --json > "$OUT/paper-$t-compare.json"
    done
  else
    say "paper: the paper's protocol (AlexNet at 150 x 150, x5 rotations, ~40 h per trait on this CPU) needs a GPU;"
    say "paper: none here, so this is only a --limit 200, 1-epoch smoke of the same command (gender) on the CPU"
    for v in baseline lacnn; do
      nice -n "$NICE" "$CLI" train --data "celeba:$DATA/celebahq" --trait gender --variant "$v" --arch alexnet \
        --size 150 --augment paper --align none --epochs 1 --batch 50 --lr 0.001 --val-fraction 0.1 --limit 200 \
        --device cpu --out "$OUT/paper-smoke-$v.safetensors" > "$OUT/paper-smoke-$v.json"
    done
  fi
}

stage_bn() {
  say "bn: the batch-normalised pair, side by side"
  pair_run docs/arch/traitnet-bn.arch bn-@V@ 16 --lr 0.004
  pair_run docs/arch/traitnet-bn.arch bn-@V@-c2 10 --lr 0.002 --init "$OUT/bn-@V@.safetensors"
  show_validation "$OUT"/bn-*.safetensors
}

stage_wide() {
  say "wide: traitnet 1.5x as wide, both variants side by side: cycle 1 (30 epochs), cycle 2 (12), cycle 3 (10)"
  pair_run docs/arch/traitnet-wide.arch wide-@V@-c1 30
  pair_run docs/arch/traitnet-wide.arch wide-@V@-c2 12 --lr 0.004 --init "$OUT/wide-@V@-c1.safetensors"
  # a third cycle from the second (both selected their last epoch): 10
  # epochs, peak 0.002
  pair_run docs/arch/traitnet-wide.arch wide-@V@-c3 10 --lr 0.002 --init "$OUT/wide-@V@-c2.safetensors"
  show_validation "$OUT"/wide-*.safetensors
}

stage_soup() {
  for v in baseline lacnn; do
    for c in c1 c2 c2w r2 r3; do
      "$CLI" eval --model "$OUT/bundle-$v-$c.safetensors" --data "celeba:$DATA/celebahq" --split val --json \
        > "$OUT/val-$v-$c.json"
    done
    say "soup: $v, greedy soup of the second-cycle runs (validation; then the test split once)"
    "$CLI" soup --greedy --data "celeba:$DATA/celebahq" --out "$OUT/soup-$v.safetensors" \
      "$OUT/bundle-$v"-{c2,c2w,r2,r3}.safetensors > "$OUT/soup-$v.json"
  done
}

stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=(bundle evaluate table3 curves)
for s in "${stages[@]}"; do
  case "$s" in
    bundle|evaluate|table3|curves|paper|bn|wide|soup) "stage_$s" ;;
    *) echo "results.sh: unknown stage '$s' (bundle evaluate table3 curves paper bn wide soup)" >&2; exit 2 ;;
  esac
done
