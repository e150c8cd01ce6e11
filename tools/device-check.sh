#!/usr/bin/env bash
# device-check.sh - the one script for a GPU run (issue 14; docs/gpu.md).
#
#   bash tools/device-check.sh pack    here: build, and pack what a GPU machine needs
#   bash tools/device-check.sh run     there: check the GPU path, summary table last
#   bash tools/device-check.sh         both in a row (the rehearsal on any machine)
#
# pack builds a CUDA build (build-device/, -Dcuda=enabled -Dapp=disabled:
# the app's GTK never reaches nvcc) and writes build-device/device-pack.tar.gz:
# the programs the run needs in the build tree's layout (so that they find
# libtraitscope-cuda.so beside them), stripped; every shared library they
# load that is not the C runtime itself or CUDA's (a GPU machine of this
# workplace has no OpenBLAS, cJSON, libpng or Cairo; see ldd); two sample
# photos with landmarks made here (the GPU machine has no landmark models),
# and 48 labelled CelebA-HQ faces for a one-epoch training run (../shared/data
# does not travel; this pack is ignored by git and never committed).
#
# run unpacks it (when given), finds cuDNN and cuBLAS (ld.so.cache,
# /usr/local/cuda*, the nvidia-* wheels of the python that has torch), finds
# a python with torch at run time ($TS_PYTHON, python3, /opt/torch/.venv,
# /usr/bin/python3), and runs, each step under its own time limit and all
# of them inside DEADLINE seconds (default 330: the run ends inside 6
# minutes with the unpacking):
#   env        the GPU, its driver, our `device` line (cuDNN/cuBLAS loaded)
#   bodies     the kernels' per-element bodies on the CPU (the pack is sane)
#   ops-cuda   the op table on the GPU against the CPU (test-ops --backend cuda)
#   predict    predict, explain (LRP on the GPU, a LACNN's A(x,y) input) and
#              amap with --device cuda against --device cpu
#   train      one epoch on the GPU and on the CPU, same seed: losses close
#   bench      bench-gpu against PyTorch on the same GPU
#   memcheck   compute-sanitizer memcheck of the quick op table and a predict
# Logs go to $OUT when it is set, else device-logs/: one per step and
# summary.txt (8 files: what the run tool brings back); what the steps make
# stays in build-device/run/work.  Without a GPU (or a
# tool) the steps that need one say SKIP and why; any FAIL makes the exit
# status 1.
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
MODE=${1:-both}
PACK_DIR=build-device
PACK=$PACK_DIR/device-pack.tar.gz
LOGS=${OUT:-$ROOT/device-logs}
DEADLINE=${DEADLINE:-330}
T0=$(date +%s)

# ---- pack (here) -------------------------------------------------------------
pack() {
    local data=${TS_SHARED_DATA:-$ROOT/../shared/data}
    if [ ! -d "$PACK_DIR" ]; then
        meson setup "$PACK_DIR" -Dcuda=enabled -Dapp=disabled -Dbuildtype=release -Db_ndebug=false >/dev/null ||
            { echo "pack: meson setup failed"; return 1; }
    fi
    nice -n 3 ninja -C "$PACK_DIR" src/cli/traitscope-cli src/libtraitscope-cuda.so tests/nn/test-ops \
        tests/nn/test-kernel-bodies bench/bench-gpu >/dev/null || { echo "pack: build failed"; return 1; }
    local st=$PACK_DIR/stage
    rm -rf "$st"
    mkdir -p "$st/build/src/cli" "$st/build/tests/nn" "$st/build/bench" "$st/lib" "$st/data"
    cp "$PACK_DIR/src/cli/traitscope-cli" "$st/build/src/cli/"
    cp "$PACK_DIR/src/libtraitscope-cuda.so" "$st/build/src/"
    cp "$PACK_DIR/tests/nn/test-ops" "$PACK_DIR/tests/nn/test-kernel-bodies" "$st/build/tests/nn/"
    cp "$PACK_DIR/bench/bench-gpu" "$st/build/bench/"
    strip "$st"/build/src/cli/* "$st"/build/tests/nn/* "$st"/build/bench/* "$st"/build/src/*.so 2>/dev/null
    # the shared libraries: everything but the C runtime and CUDA's
    for f in "$st"/build/src/cli/* "$st"/build/tests/nn/* "$st"/build/bench/* "$st"/build/src/*.so; do
        ldd "$f" 2>/dev/null | awk '/=>/ && $3 ~ /^\// {print $3}'
    done | sort -u | while read -r lib; do
        case "$(basename "$lib")" in
        libc.so*|libm.so*|libdl.so*|librt.so*|libpthread.so*|ld-linux*|libgcc_s.so*|libstdc++.so*) ;;
        libcud*|libcublas*|libnv*) ;;
        *) cp -L "$lib" "$st/lib/" ;;
        esac
    done
    strip --strip-unneeded "$st"/lib/* 2>/dev/null
    # photos and their landmarks (face-api's net, made here)
    local demo=$ROOT/node_modules/@vladmandic/face-api/demo
    for i in 1 2; do
        [ -f "$demo/sample$i.jpg" ] || continue
        cp "$demo/sample$i.jpg" "$st/data/"
        "$PACK_DIR/src/cli/traitscope-cli" landmarks "$demo/sample$i.jpg" --method cnn --device cpu \
            >"$st/data/sample$i.json" 2>/dev/null || rm -f "$st/data/sample$i.json"
    done
    # 48 labelled faces for the training step, in CelebA's layout
    if [ -f "$data/celebahq/attributes.txt" ]; then
        mkdir -p "$st/data/celeba/images"
        { sed -n 2p "$data/celebahq/attributes.txt"; sed -n '3,50p' "$data/celebahq/attributes.txt"; } >"$st/data/attr.tmp"
        { echo 48; cat "$st/data/attr.tmp"; } >"$st/data/celeba/attributes.txt"
        rm "$st/data/attr.tmp"
        sed -n '3,50p' "$data/celebahq/attributes.txt" | awk '{print $1}' | while read -r img; do
            cp "$data/celebahq/images/$img" "$st/data/celeba/images/"
        done
    fi
    { git rev-parse HEAD; git status --porcelain --untracked-files=no | grep -q . && echo "(with uncommitted changes)"; } \
        >"$st/PACK_COMMIT" 2>/dev/null
    tar -C "$st" -czf "$PACK" . && rm -rf "$st"
    echo "pack: $PACK ($(du -h "$PACK" | cut -f1)); carry it: run(carry=[\"$PACK\"], command=\"bash tools/device-check.sh run\")"
}

# ---- run (there) ---------------------------------------------------------------
declare -a ROWS=()
FAILED=0

row() { # step status seconds note
    ROWS+=("$(printf '%-9s %-5s %5ss  %s' "$1" "$2" "$3" "$4")")
    [ "$2" = FAIL ] && FAILED=1
    echo "== $1: $2 ($3 s) $4"
}

left() { echo $((DEADLINE - ($(date +%s) - T0))); }

# Runs step NAME with limit SECONDS: the command's exit status 0 PASS, 77
# SKIP, anything else FAIL; its output into $LOGS/NAME.log.
step() {
    local name=$1 limit=$2
    shift 2
    local rem
    rem=$(left)
    if [ "$rem" -lt 20 ]; then
        row "$name" SKIP 0 "no time left inside the ${DEADLINE} s deadline"
        return
    fi
    [ "$limit" -gt "$rem" ] && limit=$rem
    local t=$(date +%s)
    timeout -k 5 "$limit" "$@" >"$LOGS/$name.log" 2>&1
    local rc=$? dt=$(($(date +%s) - t))
    local note
    note=$(grep -E '(^|: )(SKIP|FAIL|RESULT)' "$LOGS/$name.log" | grep -v '^ok ' | tail -n 2 | tr '\n' ' ' |
        cut -c1-160)
    case $rc in
    0) row "$name" PASS "$dt" "$note" ;;
    77) row "$name" SKIP "$dt" "$note" ;;
    124|137) row "$name" FAIL "$dt" "timed out after $limit s; $note" ;;
    *) row "$name" FAIL "$dt" "exit $rc; $note" ;;
    esac
}

find_python() {
    for p in "${TS_PYTHON:-}" python3 /opt/torch/.venv/bin/python3 /usr/bin/python3; do
        [ -n "$p" ] && command -v "$p" >/dev/null 2>&1 && "$p" -c 'import torch' 2>/dev/null && { echo "$p"; return; }
    done
}

# Folders holding cuDNN 9 and cuBLAS 13, for LD_LIBRARY_PATH.
cuda_libdirs() {
    local py=$1 dirs=""
    for d in /usr/local/cuda/lib64 /usr/local/cuda/lib /usr/local/cuda-*/lib64 /usr/local/cuda-*/lib \
        /usr/lib/x86_64-linux-gnu; do
        [ -e "$d/libcudnn.so.9" ] || [ -e "$d/libcublas.so.13" ] && dirs="$dirs:$d"
    done
    if [ -n "$py" ]; then
        local site
        site=$("$py" -c 'import os, nvidia; print(" ".join(os.path.dirname(p) for p in nvidia.__path__))' 2>/dev/null)
        for s in $site; do
            for f in $(find "$s/nvidia" -maxdepth 4 \( -name 'libcudnn.so.9' -o -name 'libcublas.so.13' -o \
                -name 'libcublasLt.so.13' -o -name 'libnvrtc.so.13' -o -name 'libnvJitLink.so.13' \) \
                2>/dev/null); do
                dirs="$dirs:$(dirname "$f")"
            done
        done
    fi
    echo "$dirs" | tr ':' '\n' | awk 'NF && !seen[$0]++' | paste -sd: -
}

# Predictions, LRP and A(x,y): --device cuda against --device cpu.
check_predict() {
    local cli=$1 data=$2
    if ! "$cli" device --device cuda | grep -q '"backend":"cuda"'; then
        echo "SKIP no usable GPU: $("$cli" device --device cuda | sed 's/.*"fallback":"\([^"]*\)".*/\1/')"
        return 77
    fi
    local ok=0 base=$ROOT/resources/models/baseline.safetensors lacnn=$ROOT/resources/models/lacnn.safetensors
    local imgs=("$data"/sample*.jpg)
    "$cli" predict --model "$base" --device cpu "${imgs[@]}" >"$WORK/predict-cpu.jsonl" || ok=1
    TS_CUDA_VERBOSE=1 "$cli" predict --model "$base" --device cuda "${imgs[@]}" >"$WORK/predict-cuda.jsonl" || ok=1
    for i in 1 2; do
        [ -f "$data/sample$i.json" ] || continue
        for m in "$base" "$lacnn"; do
            for d in cpu cuda; do
                "$cli" explain --model "$m" "$data/sample$i.jpg" --landmarks "$data/sample$i.json" --json \
                    --relevance "$WORK/rel-$i-$(basename "$m" .safetensors)-$d.npy" --device "$d" \
                    >"$WORK/explain-$i-$(basename "$m" .safetensors)-$d.json" || ok=1
            done
        done
        "$cli" amap --landmarks "$data/sample$i.json" --size 1920x1080 --out "$WORK/amap-$i-cpu.pgm" --device cpu || ok=1
        "$cli" amap --landmarks "$data/sample$i.json" --size 1920x1080 --out "$WORK/amap-$i-cuda.pgm" --device cuda || ok=1
        cmp -s "$WORK/amap-$i-cpu.pgm" "$WORK/amap-$i-cuda.pgm" && echo "NOTE A(x,y) 1920x1080 of sample$i: GPU == CPU, byte for byte" ||
            { echo "FAIL A(x,y) 1920x1080 of sample$i differs between the GPU and the CPU"; ok=1; }
    done
    "$PY" - "$WORK" <<'PYEOF' || ok=1
import glob, json, os, sys
logs = sys.argv[1]
bad = 0
cpu = [json.loads(l) for l in open(os.path.join(logs, "predict-cpu.jsonl"))]
gpu = [json.loads(l) for l in open(os.path.join(logs, "predict-cuda.jsonl"))]
def heads(line):
    # a one-trait net's line, or each trait of a multi-label net (the bundled ones)
    return line["traits"] if "traits" in line else {"": line}
for a, b in zip(cpu, gpu):
    ha, hb = heads(a), heads(b)
    d = max(abs(ha[t]["probabilities"][k] - hb[t]["probabilities"][k]) for t in ha for k in ha[t]["probabilities"])
    same = all(ha[t]["predicted"] == hb[t]["predicted"] for t in ha) and d <= 1e-4
    bad += not same
    print(("NOTE" if same else "FAIL"), "predict", os.path.basename(a["image"]), "max |p_gpu - p_cpu|", "%.2g" % d)
for c in sorted(glob.glob(os.path.join(logs, "explain-*-cpu.json"))):
    g = c.replace("-cpu.json", "-cuda.json")
    a, b = json.load(open(c)), json.load(open(g))
    ds = abs(a["relevance_sum"] - b["relevance_sum"]) / max(1e-12, abs(a["relevance_sum"]))
    same = a["target"] == b["target"] and ds <= 2e-3 and abs(a["logit"] - b["logit"]) <= 1e-3 * max(1, abs(a["logit"]))
    bad += not same
    print(("NOTE" if same else "FAIL"), "explain", os.path.basename(c), "relevance sum rel. diff %.2g" % ds)
try:
    import numpy as np
    for c in sorted(glob.glob(os.path.join(logs, "rel-*-cpu.npy"))):
        a, b = np.load(c), np.load(c.replace("-cpu.npy", "-cuda.npy"))
        m = float(np.abs(a).max())
        d = float(np.abs(a - b).max())
        same = d <= 1e-4 * m + 2e-3 * float(np.abs(a).mean()) + 1e-7 or d <= 2e-3 * m
        bad += not same
        print(("NOTE" if same else "FAIL"), "relevance", os.path.basename(c), "max |diff| %.3g of max |R| %.3g" % (d, m))
except ImportError:
    print("NOTE numpy missing: relevance maps not compared pixel by pixel")
print("RESULT", "all GPU outputs match the CPU's" if not bad else "%d GPU output(s) differ from the CPU's" % bad)
sys.exit(1 if bad else 0)
PYEOF
    return $ok
}

# One epoch of the tiny net on the GPU and on the CPU, same seed.
check_train() {
    local cli=$1 data=$2
    [ -d "$data/celeba" ] || { echo "SKIP no training faces in the pack"; return 77; }
    if ! "$cli" device --device cuda | grep -q '"backend":"cuda"'; then
        echo "SKIP no usable GPU"
        return 77
    fi
    local arch=$ROOT/tests/nn/tiny.arch rc=0
    for d in cuda cpu; do
        "$cli" train --data "celeba:$data/celeba" --trait gender --variant baseline --arch "$arch" --size 32 \
            --epochs 2 --batch 8 --augment none --device "$d" --cache "$WORK/cache-$d" \
            --out "$WORK/train-$d.safetensors" >"$WORK/train-$d.json" 2>"$WORK/train-$d.err" || rc=1
    done
    [ $rc = 0 ] || { echo "FAIL a training run failed: $(tail -n 2 "$WORK"/train-*.err | tr '\n' ' ')"; return 1; }
    "$PY" - "$WORK" <<'PYEOF'
import json, os, sys
logs = sys.argv[1]
g = json.load(open(os.path.join(logs, "train-cuda.json")))
c = json.load(open(os.path.join(logs, "train-cpu.json")))
lg, lc = g.get("final_loss"), c.get("final_loss")
ok = g.get("backend") == "cuda" and c.get("backend") == "cpu" and lg is not None and abs(lg - lc) <= 1e-3 + 1e-2 * abs(lc)
print("NOTE", "backends", g.get("backend"), c.get("backend"), "final loss GPU %s CPU %s" % (lg, lc))
print("RESULT" if ok else "FAIL", "the GPU run follows the CPU run" if ok else "the GPU run differs from the CPU run")
sys.exit(0 if ok else 1)
PYEOF
}

# compute-sanitizer memcheck: a predict, then the quick op table with the
# time that is left ($1 seconds in all).  A memory error fails; running out
# of time only says how far it got.
check_memcheck() {
    local cli=$1 data=$2 ops=$3 limit=$4
    local cs
    cs=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer /opt/nvidia/*/compute-sanitizer \
        2>/dev/null | head -n 1)
    [ -n "$cs" ] || { echo "SKIP compute-sanitizer not found"; return 77; }
    if ! "$cli" device --device cuda | grep -q '"backend":"cuda"'; then
        echo "SKIP no usable GPU"
        return 77
    fi
    local t0 rc done=""
    t0=$(date +%s)
    timeout -k 5 $((limit / 3)) "$cs" --tool memcheck --error-exitcode 3 "$cli" predict --device cuda \
        --model "$ROOT/resources/models/baseline.safetensors" "$data"/sample*.jpg
    rc=$?
    case $rc in 0) done="predict" ;; 124|137) echo "NOTE predict under memcheck did not finish" ;; *) echo "FAIL memcheck: predict (exit $rc)"; return 1 ;; esac
    local rest=$((limit - ($(date +%s) - t0) - 10))
    if [ $rest -gt 20 ]; then
        timeout -k 5 $rest "$cs" --tool memcheck --error-exitcode 3 "$ops" --backend cuda --quick
        rc=$?
        case $rc in 0) done="$done, the quick op table" ;; 124|137) echo "NOTE the op table under memcheck did not finish in $rest s" ;; *) echo "FAIL memcheck: the op table (exit $rc)"; return 1 ;; esac
    fi
    [ -n "$done" ] || { echo "SKIP memcheck finished nothing in $limit s"; return 77; }
    echo "RESULT memcheck: no errors in ${done#, }"
}

env_report() {
    local cli=$1
    echo "--- the pack was built from $(tr '\n' ' ' <"$BUILD/../PACK_COMMIT" 2>/dev/null); this tree is at $(git -C "$ROOT" rev-parse HEAD 2>/dev/null)"
    echo "--- nvidia-smi"
    nvidia-smi 2>&1 || echo "nvidia-smi not found or failed"
    echo "--- python with torch: ${PY:-none}"
    [ -n "$PY" ] && "$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version(), "available", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")'
    echo "--- LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
    echo "--- the CUDA module's libraries"
    ldd "$BUILD/src/libtraitscope-cuda.so"
    echo "--- traitscope-cli device"
    "$cli" device --device auto
    "$cli" device --device auto | grep -q '"backend":"cuda"' && echo "RESULT $("$cli" device --device auto | sed 's/.*"describe":"\([^"]*\)".*/\1/')" ||
        { echo "SKIP no usable GPU: $("$cli" device --device cuda | sed 's/.*"fallback":"\([^"]*\)".*/\1/')"; return 77; }
}

run() {
    T0=$(date +%s)
    mkdir -p "$LOGS"
    local here=$ROOT/$PACK_DIR/run
    if [ -f "$PACK" ]; then
        rm -rf "$here" && mkdir -p "$here" && tar -C "$here" -xzf "$PACK"
    elif [ ! -d "$here" ]; then
        echo "run: no $PACK (make it with 'bash tools/device-check.sh pack' and carry it)"
        return 1
    fi
    BUILD=$here/build
    WORK=$here/work
    rm -rf "$WORK" && mkdir -p "$WORK"
    local cli=$BUILD/src/cli/traitscope-cli data=$here/data
    PY=$(find_python)
    export LD_LIBRARY_PATH="$here/lib:$(cuda_libdirs "$PY")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export TS_SOURCE_ROOT=$ROOT TS_PYTHON=${PY:-} PYTHONUNBUFFERED=1
    unset TS_CUDA_TF32 TS_CUDA_PLUGIN
    [ -n "$PY" ] || PY=python3
    export -f check_predict check_train check_memcheck env_report
    export ROOT LOGS PY BUILD WORK
    step env 30 bash -c "env_report '$cli'"
    step bodies 30 "$BUILD/tests/nn/test-kernel-bodies"
    step ops-cuda 120 "$BUILD/tests/nn/test-ops" --backend cuda
    step predict 60 bash -c "check_predict '$cli' '$data'"
    step train 60 bash -c "check_train '$cli' '$data'"
    step bench 120 "$BUILD/bench/bench-gpu" --repeats 10
    local mc
    mc=$(left)
    [ "$mc" -gt 150 ] && mc=150
    step memcheck "$mc" bash -c "check_memcheck '$cli' '$data' '$BUILD/tests/nn/test-ops' $((mc - 10))"
    {
        echo
        echo "device check, $(date -u '+%Y-%m-%d %H:%M UTC'), $(($(date +%s) - T0)) s, logs in $LOGS"
        printf '%-9s %-5s %6s  %s\n' step result time note
        for r in "${ROWS[@]}"; do echo "$r"; done
    } | tee "$LOGS/summary.txt"
    return $FAILED
}

case $MODE in
pack) pack ;;
run) run ;;
both) pack && run ;;
*) echo "usage: bash tools/device-check.sh [pack|run]"; exit 2 ;;
esac
