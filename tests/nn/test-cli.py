#!/usr/bin/python3
"""test-cli.py - traitscope-cli init -> info -> predict, end to end.

usage: test-cli.py TRAITSCOPE_CLI   (meson passes the built program)

Checks the JSON contracts of the three commands on the tiny test network
(tests/nn/tiny.arch) and real face crops from $TS_SHARED_DATA/celebahq
(skip, exit 77, when the data is absent): every line parses, probabilities
sum to 1, `predicted` is the most probable class, the content hash is the
SHA-256 of the file's data section, an unreadable image is skipped with a
message and a non-zero exit, a damaged model file is refused with a message
naming it, `--help` works for each command.
"""
import hashlib
import json
import os
import struct
import subprocess
import sys
import tempfile

CLI = sys.argv[1]
SRC = os.environ.get("TS_SOURCE_ROOT", ".")
DATA = os.environ.get("TS_SHARED_DATA", "")
ARCH = os.path.join(SRC, "tests", "nn", "tiny.arch")
failures = 0


def check(cond, what):
    global failures
    if not cond:
        print("FAILED:", what, file=sys.stderr)
        failures += 1


def run(*args):
    p = subprocess.run([CLI, *args], capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


images_dir = os.path.join(DATA, "celebahq", "images")
images = [os.path.join(images_dir, f"{i}.jpg") for i in (1, 3, 4, 5, 6)]
images = [p for p in images if os.path.exists(p)][:3]
if len(images) < 3:
    print(f"skip: needs three face images in {images_dir}")
    sys.exit(77)

with tempfile.TemporaryDirectory() as tmp:
    model = os.path.join(tmp, "tiny.safetensors")

    # --help and usage errors
    for cmd in ("init", "info", "predict"):
        rc, out, err = run(cmd, "--help")
        check(rc == 0 and "usage: traitscope-cli " + cmd in out, f"{cmd} --help")
    rc, out, err = run("init", "--arch", ARCH)
    check(rc == 2 and "--out" in err, "init without --out is a usage error")
    rc, out, err = run("init", "--arch", ARCH, "--in-channels", "5", "--out", model)
    check(rc == 2 and "--in-channels" in err, "init --in-channels 5 is refused")
    rc, out, err = run("init", "--arch", "no-such-net", "--out", model)
    check(rc != 0 and "no-such-net" in err and not os.path.exists(model),
          "unknown architecture is refused, nothing written")

    # init
    rc, out, err = run("init", "--arch", ARCH, "--size", "32", "--classes", "3",
                       "--class-names", "young,middle,old", "--trait", "age",
                       "--seed", "5", "--out", model)
    check(rc == 0, f"init succeeds ({err.strip()})")
    made = json.loads(out)
    check(made["model"] == model and made["arch"] == "tiny", "init prints model and arch")

    # info
    rc, out, err = run("info", model)
    check(rc == 0, f"info succeeds ({err.strip()})")
    info = json.loads(out)
    check(info["classes"] == ["young", "middle", "old"], "classes")
    check(info["trait"] == "age", "trait")
    check(info["in_channels"] == 3 and info["input_size"] == 32, "input shape")
    check(info["channel_order"] == "RGB" and len(info["input_mean"]) == 3, "normalisation")
    check(info["landmarks"] == "none" and info["alignment"] == "none", "landmarks/alignment")
    check(info["test_accuracy"] is None and info["training"] == {}, "no training yet")
    numel = 0
    for t in info["tensors"]:
        n = 1
        for d in t["shape"]:
            n *= d
        numel += n
    check(numel == info["parameters"] == made["parameters"], "parameter count = sum of tensors")
    check(info["tensors"][-1] == {"name": "fc2.bias", "shape": [3]}, "last tensor fc2.bias (3)")
    check("conv2b" in info["arch_text"] and "{classes}" not in info["arch_text"],
          "expanded architecture text stored")
    raw = open(model, "rb").read()
    (hlen,) = struct.unpack("<Q", raw[:8])
    digest = hashlib.sha256(raw[8 + hlen:]).hexdigest()
    check(info["content_hash"] == "sha256:" + digest == made["content_hash"],
          "content hash is SHA-256 of the data section")

    # predict: three faces and one unreadable file in the middle
    junk = os.path.join(tmp, "not-an-image.jpg")
    with open(junk, "w") as f:
        f.write("this is not a JPEG\n")
    args = ["predict", "--model", model, "--device", "cpu", "--batch", "2",
            images[0], junk, images[1], images[2]]
    rc, out, err = run(*args)
    check(rc != 0, "predict exits non-zero when an image failed")
    check("not-an-image.jpg" in err and "skipped" in err, f"unreadable image reported ({err.strip()})")
    lines = [json.loads(l) for l in out.splitlines()]
    check([l["image"] for l in lines] == images, "one line per readable image, in order")
    for l in lines:
        p = l["probabilities"]
        check(set(p) == {"young", "middle", "old"}, "probabilities per class")
        check(abs(sum(p.values()) - 1.0) < 1e-5, f"probabilities sum to 1 ({sum(p.values())})")
        check(all(0.0 <= v <= 1.0 for v in p.values()), "probabilities in [0,1]")
        check(l["predicted"] == max(p, key=p.get), "predicted is the most probable class")
    # the same images without the junk: exit 0, same numbers whatever the batch size
    rc, out1, err = run("predict", "--model", model, "--batch", "1", *images)
    check(rc == 0, f"predict succeeds ({err.strip()})")
    lines1 = [json.loads(l) for l in out1.splitlines()]
    same = len(lines1) == len(lines) and all(
        a["image"] == b["image"] and a["predicted"] == b["predicted"] and all(
            abs(a["probabilities"][k] - b["probabilities"][k]) < 1e-5 for k in a["probabilities"])
        for a, b in zip(lines, lines1))
    check(same, "results do not depend on the batch size or on skipped images")

    # damaged model files
    bad = os.path.join(tmp, "bad.safetensors")
    with open(bad, "wb") as f:
        f.write(raw[: len(raw) - 7])
    for cmd in (["info", bad], ["predict", "--model", bad, images[0]]):
        rc, out, err = run(*cmd)
        check(rc == 1 and "bad.safetensors" in err and out == "",
              f"{cmd[0]} refuses a truncated model ({err.strip()})")
    flipped = bytearray(raw)
    flipped[-1] ^= 1
    with open(bad, "wb") as f:
        f.write(flipped)
    rc, out, err = run("info", bad)
    check(rc == 1 and "content hash mismatch" in err, f"info detects a flipped bit ({err.strip()})")
    rc, out, err = run("info", os.path.join(tmp, "missing.safetensors"))
    check(rc == 1 and "missing.safetensors" in err, "info on a missing file")

    # a 4-channel (LACNN) model needs landmarks: predict finds them itself
    m4 = os.path.join(tmp, "tiny4.safetensors")
    rc, out, err = run("init", "--arch", ARCH, "--size", "32", "--in-channels", "4",
                       "--dtype", "f16", "--out", m4)
    check(rc == 0, f"init 4-channel f16 ({err.strip()})")
    rc, out, err = run("info", "--compact", m4)
    info4 = json.loads(out)
    check(info4["in_channels"] == 4 and info4["amap_encoding"] == "index/67"
          and info4["landmarks"] == "ert" and info4["channel_order"] == "RGB+A", "4-channel metadata")
    check(os.path.getsize(m4) < os.path.getsize(model), "f16 file is smaller")
    rc, out, err = run("predict", "--model", m4, images[0])
    p4 = json.loads(out.splitlines()[0]) if rc == 0 and out else {}
    check(rc == 0 and abs(sum(p4.get("probabilities", {}).values()) - 1) < 1e-5,
          f"4-channel predict finds its landmarks ({err.strip()})")
    # a landmarks file that does not exist is named
    rc, out, err = run("predict", "--model", m4, "--landmarks", os.path.join(tmp, "none.json"), images[0])
    check(rc != 0 and "none.json" in err, f"a missing landmarks file is named ({err.strip()})")

if failures:
    print(f"{failures} check(s) failed", file=sys.stderr)
    sys.exit(1)
print("cli: all checks passed")
