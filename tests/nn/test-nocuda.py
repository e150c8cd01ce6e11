#!/usr/bin/python3
"""test-nocuda.py - a CUDA build on a machine without the CUDA libraries
(issue 14, finding 10).

usage: test-nocuda.py TRAITSCOPE_CLI [TRAITSCOPE_APP]   (meson passes them)

The programs link no CUDA library: the CUDA backend is a module,
libtraitscope-cuda.so, that backend/select.c loads with dlopen when a GPU
is asked for.  This test hides the CUDA libraries the way a machine without
them would: every program runs through the dynamic loader with its cache
off and an empty library path (`ld.so --inhibit-cache --library-path
EMPTY`), so only the system folders are searched, and the CUDA folder
(/usr/local/cuda*, found through ld.so.cache otherwise) is not.  Checks:
  - the module's cuBLAS/cuDNN really are not found that way (otherwise
    there is nothing to hide here: skip, 77);
  - neither program names a CUDA library among its own dependencies;
  - with the libraries hidden, every command tried runs with --device cpu
    (device, init, info, predict, explain, activations, amap, data,
    convert; with the face-api and dlib models detect, landmarks and figure;
    with the face data train, eval, compare and flip), and the app writes
    its headless figure;
  - asked for the GPU (--device auto or cuda, with the driver's probe
    skipped so that the module is really loaded), a command runs on the CPU
    with one line on stderr naming the missing library, and prints what
    --device cpu prints.
Exits 77 when this build has no CUDA module.
"""
import json
import os
import subprocess
import sys
import tempfile

CLI = sys.argv[1]
APP = sys.argv[2] if len(sys.argv) > 2 and sys.argv[2] else None
SRC = os.environ.get("TS_SOURCE_ROOT", ".")
BUILD = os.environ.get("TS_BUILD_ROOT", ".")
MODULE = os.path.join(BUILD, "src", "libtraitscope-cuda.so")
failures = 0


def check(cond, what):
    global failures
    if cond:
        print("ok:", what)
    else:
        print("FAILED:", what, file=sys.stderr)
        failures += 1


if not os.path.exists(MODULE):
    print(f"skip: this build has no CUDA module ({MODULE}): nothing to hide")
    sys.exit(77)


def interpreter(prog):
    out = subprocess.run(["readelf", "-l", prog], capture_output=True, text=True).stdout
    for line in out.splitlines():
        if "program interpreter:" in line:
            return line.split("program interpreter:")[1].strip(" []\n")
    return "/lib64/ld-linux-x86-64.so.2"


def needed(path):
    out = subprocess.run(["readelf", "-d", path], capture_output=True, text=True).stdout
    return [l.split("[")[1].rstrip("]") for l in out.splitlines() if "(NEEDED)" in l]


LDSO = interpreter(CLI)
empty = tempfile.mkdtemp(prefix="ts-nocuda-")


def hidden(prog, *args, env_extra=None):
    env = dict(os.environ)
    env.pop("LD_LIBRARY_PATH", None)
    env.pop("TS_CUDA_PLUGIN", None)
    env.pop("TS_CUDA_TF32", None)
    if env_extra:
        env.update(env_extra)
    p = subprocess.run([LDSO, "--inhibit-cache", "--library-path", empty, prog, *args], capture_output=True,
                       text=True, env=env, timeout=600)
    return p.returncode, p.stdout, p.stderr


# 1. are the module's libraries hidden this way?
lp = subprocess.run([LDSO, "--list", "--inhibit-cache", "--library-path", empty, MODULE], capture_output=True,
                    text=True)
listing = lp.stdout + lp.stderr
# "libx.so.1 => not found" lines, or the loader's "error while loading
# shared libraries: libx.so.1: cannot open shared object file"
missing = [l.split("=>")[0].strip() for l in listing.splitlines() if "not found" in l]
missing += [w.rstrip(":") for l in listing.splitlines() if "cannot open shared object" in l
            for w in l.split() if w.startswith("lib") and ".so" in w]
cuda_missing = [m for m in missing if m.startswith(("libcublas", "libcudnn", "libcudart"))]
if not cuda_missing:
    print(f"skip: the CUDA libraries are found even without ld.so.cache (in a system folder?): {listing.strip()}")
    sys.exit(77)
print("hidden:", ", ".join(cuda_missing))

# 2. the programs themselves link no CUDA library
for prog in [CLI] + ([APP] if APP else []):
    deps = needed(prog)
    check(deps and not [d for d in deps if d.startswith(("libcud", "libcublas", "libnv"))],
          f"{os.path.basename(prog)} links no CUDA library ({', '.join(deps)})")

sample = os.path.join(SRC, "node_modules", "@vladmandic", "face-api", "demo", "sample1.jpg")
faceapi = os.path.exists(os.path.join(SRC, "node_modules", "@vladmandic", "face-api", "model",
                                      "tiny_face_detector_model-weights_manifest.json"))
dlib = os.path.exists("/usr/share/dlib/shape_predictor_68_face_landmarks.dat")
arch = os.path.join(SRC, "tests", "nn", "tiny.arch")
baseline = os.path.join(SRC, "resources", "models", "baseline.safetensors")

with tempfile.TemporaryDirectory() as tmp:
    img = os.path.join(tmp, "face.png")
    model = os.path.join(tmp, "tiny.safetensors")
    imgdir = os.path.join(tmp, "imgs")
    os.makedirs(imgdir)
    # an image without relying on data: the tiny net's own input size, made by amap
    lm = os.path.join(tmp, "lm.json")
    with open(lm, "w") as f:
        json.dump({"method": "file", "landmarks": [[30 + 11 * (i % 9), 25 + 13 * (i // 9)] for i in range(68)]}, f)
    # 3. every command with --device cpu, libraries hidden
    steps = [
        ("device", ["device", "--device", "cpu"]),
        ("init", ["init", "--arch", arch, "--out", model]),
        ("info", ["info", model]),
        ("amap", ["amap", "--landmarks", lm, "--size", "150x150", "--out", img, "--device", "cpu"]),
    ]
    for name, args in steps:
        rc, out, err = hidden(CLI, *args)
        check(rc == 0 and "cannot load" not in err, f"{name} runs without the CUDA libraries ({err.strip()[:160]})")
    for k in range(2):
        if os.path.exists(img):
            with open(img, "rb") as a, open(os.path.join(imgdir, f"{k}.png"), "wb") as b:
                b.write(a.read())
    steps = [
        ("predict", ["predict", "--model", model, "--device", "cpu", img]),
        ("explain", ["explain", "--model", model, img, "--json", "--device", "cpu"]),
        ("activations", ["activations", "--model", model, img, "--out", os.path.join(tmp, "act.png"),
                         "--device", "cpu"]),
        ("data", ["data", "--data", "folder:" + imgdir]),
        ("convert", ["convert", model, os.path.join(tmp, "tiny.onnx")]),
    ]
    if faceapi and os.path.exists(sample):
        steps += [("detect", ["detect", sample, "--device", "cpu"]),
                  ("landmarks", ["landmarks", sample, "--method", "cnn", "--device", "cpu"])]
        if dlib and os.path.exists(baseline):
            steps += [("figure", ["figure", "--model", baseline, sample, "--out", os.path.join(tmp, "fig.png"),
                                  "--device", "cpu"])]
    else:
        print("note: no face-api models (run .ci/npm-setup.sh): detect, landmarks and figure not tried")
    celeba = os.path.join(os.environ.get("TS_SHARED_DATA", ""), "celebahq")
    if os.path.exists(os.path.join(celeba, "attributes.txt")):
        spec, trained = "celeba:" + celeba, os.path.join(tmp, "trained.safetensors")
        steps += [("train", ["train", "--data", spec, "--trait", "gender", "--variant", "baseline", "--arch", arch,
                             "--size", "32", "--epochs", "1", "--limit", "40", "--batch", "10", "--augment", "none",
                             "--cache", os.path.join(tmp, "cache"), "--out", trained, "--device", "cpu"]),
                  ("eval", ["eval", "--model", trained, "--data", spec, "--limit", "40", "--cache",
                            os.path.join(tmp, "cache"), "--device", "cpu"]),
                  ("compare", ["compare", "--baseline", trained, "--lacnn", trained, "--data", spec, "--limit", "40",
                               "--cache", os.path.join(tmp, "cache"), "--device", "cpu"]),
                  ("flip", ["flip", "--model", trained, "--data", spec, "--limit", "1", "--steps", "5",
                            "--device", "cpu"])]
    else:
        print(f"note: no face data in {celeba}: train, eval, compare and flip not tried")
    outputs = {}
    for name, args in steps:
        rc, out, err = hidden(CLI, *args)
        outputs[name] = out
        check(rc == 0 and "cannot load" not in err and "CUDA" not in err,
              f"{name} --device cpu runs without the CUDA libraries (rc {rc}: {err.strip()[:200]})")

    # 4. the GPU asked for: the module is loaded, fails, and says which library
    for dev in ("auto", "cuda"):
        rc, out, err = hidden(CLI, "predict", "--model", model, "--device", dev, img,
                              env_extra={"TS_CUDA_SKIP_PROBE": "1"})
        lines = [l for l in err.splitlines() if l]
        check(rc == 0 and len(lines) == 1 and "cannot load the CUDA backend" in lines[0]
              and any(m in lines[0] for m in cuda_missing) and "running on the CPU" in lines[0],
              f"predict --device {dev}: one line naming the missing library ({lines})")
        check(out == outputs.get("predict"), f"predict --device {dev} prints what --device cpu prints")
    rc, out, err = hidden(CLI, "device", "--device", "cuda", env_extra={"TS_CUDA_SKIP_PROBE": "1"})
    try:
        d = json.loads(out)
    except ValueError:
        d = {}
    check(rc == 0 and d.get("backend") == "cpu" and "cannot load" in (d.get("fallback") or ""),
          f"device --device cuda reports the CPU and why ({out.strip()[:200]})")

    # 5. the app, headless
    if APP and faceapi and dlib and os.path.exists(sample) and os.path.exists(baseline):
        fig = os.path.join(tmp, "app.png")
        rc, out, err = hidden(APP, "--headless", "--device", "cpu", "--model", baseline, "--out", fig, sample)
        check(rc == 0 and os.path.exists(fig) and "(on CPU)" in out,
              f"the app --headless --device cpu without the CUDA libraries ({err.strip()[:200]})")
        rc, out, err = hidden(APP, "--headless", "--device", "cuda", "--model", baseline, "--out", fig, sample,
                              env_extra={"TS_CUDA_SKIP_PROBE": "1"})
        check(rc == 0 and "cannot load the CUDA backend" in err,
              f"the app --device cuda falls back, saying why ({err.strip()[:200]})")
    elif APP:
        print("note: the app's headless figure needs the face-api and dlib models and the bundled baseline: not tried")

os.rmdir(empty)
sys.exit(1 if failures else 0)
