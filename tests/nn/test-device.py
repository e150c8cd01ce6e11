#!/usr/bin/python3
"""test-device.py - the CLI's --device choice and its CPU fallback (issues 5, 14).

usage: test-device.py TRAITSCOPE_CLI [--gpu]   (meson passes the built program)

Without --gpu (test 'device'): runs on any machine, GPU or not, CUDA build
or not: TS_CUDA_DEVICE=99 names a GPU that does not exist, so `--device
cuda` always has to fall back.  Checks:
  - predict --device cuda succeeds on the CPU, prints exactly one line on
    stderr, and that line names the reason (the missing device, or the
    build without CUDA) and says it runs on the CPU; its probabilities are
    those of --device cpu;
  - a tiny train run (tests/train/tiny.arch, 32x32, 1 epoch) with --device
    cuda does the same: one fallback line, a model written, "backend":"cpu";
  - eval --device cuda: one fallback line, same accuracy as --device cpu;
  - explain and activations --device cuda: one fallback line, the CPU's
    numbers and picture (LRP and activations run on any backend);
  - device --device cuda: JSON saying the CPU and why;
  - --device bogus is a usage error (exit 2) naming the choices, for every
    command that runs networks, before any work is done.

With --gpu (test 'device-gpu', suite cuda): the real GPU, no device named
away.  Exits 77 exactly where `traitscope-cli device` reports no GPU at all
(gpu_present false); with a GPU present, any failure to use it fails:
  - device --device cuda: backend "cuda", no fallback, describe "cuda: ...";
  - a tiny train run with --device cuda: "backend":"cuda", no fallback line;
  - predict, explain --device cuda: silent (no fallback line), the CPU's
    probabilities within 1e-4 and the CPU's logit and relevance sum within
    1e-3 relative (cuDNN and OpenBLAS sum in other orders);
  - activations --device cuda: a picture, no fallback line.
Needs face crops from $TS_SHARED_DATA/celebahq (exit 77 without them).
"""
import json
import os
import subprocess
import sys
import tempfile

CLI = sys.argv[1]
GPU = "--gpu" in sys.argv[2:]
SRC = os.environ.get("TS_SOURCE_ROOT", ".")
DATA = os.environ.get("TS_SHARED_DATA", "")
failures = 0


def check(cond, what):
    global failures
    if not cond:
        print("FAILED:", what, file=sys.stderr)
        failures += 1
    else:
        print("ok:", what)


def run(*args, gpu99=True):
    env = dict(os.environ)
    if gpu99:
        env["TS_CUDA_DEVICE"] = "99"
    env.pop("TS_CUDA_TF32", None)
    p = subprocess.run([CLI, *args], capture_output=True, text=True, env=env, timeout=600)
    return p.returncode, p.stdout, p.stderr


def fallback_lines(err, cmd):
    """Lines of stderr that report running on the CPU instead of a GPU."""
    return [l for l in err.splitlines()
            if l.startswith(f"traitscope-cli {cmd}: ") and "running on the CPU" in l]


def names_reason(line):
    # CUDA build: the device index we asked for does not exist (or no GPU /
    # driver at all); build without CUDA: says so.
    return any(w in line for w in ("TS_CUDA_DEVICE=99", "GPU", "driver", "CUDA:", "without CUDA",
                                   "no CUDA backend"))


celeba = os.path.join(DATA, "celebahq")
images_dir = os.path.join(celeba, "images")
names = sorted(os.listdir(images_dir))[:3] if os.path.isdir(images_dir) else []
images = [os.path.join(images_dir, n) for n in names]
if len(images) < 3 or not os.path.exists(os.path.join(celeba, "attributes.txt")):
    print(f"skip: needs face images and attributes.txt in {celeba}")
    sys.exit(77)
spec = "celeba:" + celeba
arch = os.path.join(SRC, "tests", "train", "tiny.arch")


def close(a, b, rel, absolute=0.0):
    return abs(a - b) <= absolute + rel * max(abs(a), abs(b))


def gpu_main():
    """The real GPU (--gpu): skip only where there is none."""
    rc, out, err = run("device", "--device", "cuda", gpu99=False)
    try:
        d = json.loads(out)
    except ValueError:
        print(f"FAILED: device prints JSON (exit {rc}: {out.strip()[:200]} {err.strip()[:200]})", file=sys.stderr)
        return 1
    if not d.get("gpu_present"):
        print(f"skip: no GPU on this machine ({d.get('no_gpu')}); the GPU path was not exercised")
        return 77
    check(rc == 0 and d.get("backend") == "cuda" and d.get("fallback") is None
          and str(d.get("describe", "")).startswith("cuda:"),
          f"device --device cuda gives the GPU ({out.strip()[:300]})")
    with tempfile.TemporaryDirectory() as tmp:
        model = os.path.join(tmp, "tiny.safetensors")
        rc, out, err = run("train", "--data", spec, "--trait", "gender", "--variant", "baseline",
                           "--arch", arch, "--size", "32", "--epochs", "1", "--limit", "60",
                           "--batch", "10", "--no-augment", "--cache", os.path.join(tmp, "cache"),
                           "--device", "cuda", "--out", model, gpu99=False)
        check(rc == 0 and os.path.exists(model), f"train --device cuda ({err.strip()[-300:]})")
        check(fallback_lines(err, "train") == [], f"train --device cuda: no fallback line ({err.strip()[-300:]})")
        try:
            res = json.loads(out)
        except ValueError:
            res = {}
        check(res.get("backend") == "cuda", f"train ran on the GPU (backend {res.get('backend')})")
        if not os.path.exists(model):
            return 1

        rc, out_gpu, err = run("predict", "--model", model, "--device", "cuda", *images, gpu99=False)
        check(rc == 0 and fallback_lines(err, "predict") == [], f"predict --device cuda on the GPU ({err.strip()})")
        rc, out_cpu, err = run("predict", "--model", model, "--device", "cpu", *images, gpu99=False)
        try:
            pg = [json.loads(l)["probabilities"] for l in out_gpu.splitlines()]
            pc = [json.loads(l)["probabilities"] for l in out_cpu.splitlines()]
            worst = max(abs(g[k] - c[k]) for g, c in zip(pg, pc) for k in c)
            check(len(pg) == len(pc) == 3 and worst <= 1e-4,
                  f"predict: the GPU's probabilities are the CPU's within 1e-4 (worst {worst:.2e})")
        except (ValueError, KeyError, TypeError) as e:
            check(False, f"predict prints JSON lines of probabilities ({e})")

        rc, ex_gpu, err = run("explain", "--model", model, images[0], "--json", "--device", "cuda", gpu99=False)
        check(rc == 0 and fallback_lines(err, "explain") == [], f"explain --device cuda on the GPU ({err.strip()})")
        rc, ex_cpu, err = run("explain", "--model", model, images[0], "--json", "--device", "cpu", gpu99=False)
        try:
            a, b = json.loads(ex_gpu), json.loads(ex_cpu)
            check(a["target_index"] == b["target_index"] and close(a["logit"], b["logit"], 1e-3, 1e-6)
                  and close(a["relevance_sum"], b["relevance_sum"], 1e-3, 1e-6),
                  f"explain: the GPU's logit and relevance are the CPU's ({a['logit']} {a['relevance_sum']}"
                  f" vs {b['logit']} {b['relevance_sum']})")
        except (ValueError, KeyError) as e:
            check(False, f"explain prints JSON ({e})")

        pa = os.path.join(tmp, "act-gpu.png")
        rc, out, err = run("activations", "--model", model, images[0], "--out", pa, "--device", "cuda",
                           gpu99=False)
        check(rc == 0 and os.path.getsize(pa) > 0 and fallback_lines(err, "activations") == [],
              f"activations --device cuda on the GPU ({err.strip()})")
    return 1 if failures else 0


if GPU:
    sys.exit(gpu_main())

with tempfile.TemporaryDirectory() as tmp:
    cache = os.path.join(tmp, "cache")
    model = os.path.join(tmp, "tiny.safetensors")

    # --device bogus: a usage error naming the choices, for every command
    bogus = {
        "predict": ["--model", model, images[0]],
        "train": ["--data", spec, "--trait", "gender", "--variant", "baseline", "--out", model],
        "eval": ["--model", model, "--data", spec],
        "compare": ["--baseline", model, "--lacnn", model, "--data", spec],
        "explain": ["--model", model, images[0], "--json"],
        "activations": ["--model", model, images[0], "--out", os.path.join(tmp, "a.png")],
        "figure": ["--model", model, images[0], "--out", os.path.join(tmp, "f.png")],
        "flip": ["--model", model, "--data", spec, "--limit", "1"],
        "detect": [images[0]],
        "landmarks": [images[0], "--method", "cnn"],
        "amap": ["--landmarks", os.path.join(tmp, "lm.json"), "--size", "9x9", "--out", os.path.join(tmp, "a.pgm")],
        "device": [],
    }
    for cmd, args in bogus.items():
        rc, out, err = run(cmd, *args, "--device", "bogus")
        check(rc == 2 and "--device wants cpu, cuda or auto, not 'bogus'" in err and out == "",
              f"{cmd} --device bogus is a usage error ({err.strip()[:120]})")
        check(not os.path.exists(model), f"{cmd} --device bogus did no work")

    # train: a tiny run asked for the GPU, done on the CPU with one line
    rc, out, err = run("train", "--data", spec, "--trait", "gender", "--variant", "baseline",
                       "--arch", arch, "--size", "32", "--epochs", "1", "--limit", "60",
                       "--batch", "10", "--no-augment", "--cache", cache,
                       "--device", "cuda", "--out", model)
    lines = fallback_lines(err, "train")
    check(rc == 0 and os.path.exists(model), f"train --device cuda succeeds on the CPU ({err.strip()[-200:]})")
    check(len(lines) == 1, f"train: exactly one fallback line (got {lines})")
    check(len(lines) == 1 and names_reason(lines[0]), f"train: the line names the reason ({lines})")
    try:
        res = json.loads(out)
    except ValueError:
        res = {}
    check(res.get("backend") == "cpu", f"train reports backend cpu ({res.get('backend')})")

    # predict: cuda falls back, same numbers as cpu
    rc, out_cuda, err = run("predict", "--model", model, "--device", "cuda", *images)
    lines = fallback_lines(err, "predict")
    check(rc == 0 and len(out_cuda.splitlines()) == 3, f"predict --device cuda succeeds ({err.strip()})")
    check(len(err.strip().splitlines()) == 1 and len(lines) == 1,
          f"predict: exactly one stderr line, the fallback ({err.strip()})")
    check(len(lines) == 1 and names_reason(lines[0]) and "--device cuda" in lines[0],
          f"predict: the line names the request and the reason ({lines})")
    rc, out_cpu, err = run("predict", "--model", model, "--device", "cpu", *images)
    check(rc == 0 and err == "", f"predict --device cpu is silent ({err.strip()})")
    check(out_cpu == out_cuda, "predict: the fallback gives the CPU's probabilities")

    # eval: the same
    rc, ev_cuda, err = run("eval", "--model", model, "--data", spec, "--limit", "60", "--json",
                           "--cache", cache, "--device", "cuda")
    lines = fallback_lines(err, "eval")
    check(rc == 0 and len(lines) == 1 and names_reason(lines[0]),
          f"eval --device cuda: one fallback line ({err.strip()[-200:]})")
    rc, ev_cpu, err = run("eval", "--model", model, "--data", spec, "--limit", "60", "--json",
                          "--cache", cache, "--device", "cpu")
    check(rc == 0 and fallback_lines(err, "eval") == [], "eval --device cpu: no fallback line")
    try:
        check(json.loads(ev_cuda)["accuracy"] == json.loads(ev_cpu)["accuracy"],
              "eval: the fallback gives the CPU's accuracy")
    except (ValueError, KeyError):
        check(False, "eval prints JSON")

    # explain: LRP runs where the model runs; without a GPU the CPU's
    # numbers, with one line saying why
    rc, ex_cuda, err = run("explain", "--model", model, images[0], "--json", "--device", "cuda")
    lines = fallback_lines(err, "explain")
    check(rc == 0 and len(lines) == 1 and names_reason(lines[0]), f"explain --device cuda: one line ({err.strip()})")
    rc, ex_cpu, err = run("explain", "--model", model, images[0], "--json", "--device", "cpu")
    try:
        a, b = json.loads(ex_cuda), json.loads(ex_cpu)
        check(a["relevance_sum"] == b["relevance_sum"] and a["logit"] == b["logit"],
              "explain: the fallback gives the CPU's relevance")
    except (ValueError, KeyError):
        check(False, "explain prints JSON")

    # activations: the same picture either way
    pa, pb = os.path.join(tmp, "act-cuda.png"), os.path.join(tmp, "act-cpu.png")
    rc, out, err = run("activations", "--model", model, images[0], "--out", pa, "--device", "cuda")
    check(rc == 0 and len(fallback_lines(err, "activations")) == 1, f"activations --device cuda ({err.strip()})")
    rc, out, err = run("activations", "--model", model, images[0], "--out", pb, "--device", "cpu")
    check(rc == 0 and open(pa, "rb").read() == open(pb, "rb").read(), "activations: the fallback's picture")

    # device: what --device cuda gets, as JSON
    rc, out, err = run("device", "--device", "cuda")
    try:
        d = json.loads(out)
        check(rc == 0 and d["asked"] == "cuda" and d["backend"] == "cpu" and d["fallback"] and
              "running on the CPU" in d["fallback"] and d["describe"].startswith("cpu:"),
              f"device --device cuda says the CPU and why ({out.strip()[:200]})")
    except (ValueError, KeyError):
        check(False, f"device prints JSON ({out.strip()[:200]})")

sys.exit(1 if failures else 0)
