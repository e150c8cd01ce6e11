#!/usr/bin/python3
"""test-checkpoint-torch.py - our checkpoints, read by PyTorch users.

usage: test-checkpoint-torch.py TRAITSCOPE_CLI

Writes the tiny test network (tests/nn/tiny.arch) as F32 and F16 with
`traitscope-cli init`, reads both with a few lines of pure-Python
safetensors parsing (the format is 8 bytes of header length, JSON, data)
and torch, and checks that:
  - the tensors load into the equivalent torch.nn module with
    load_state_dict(strict=True) (names and PyTorch shapes);
  - the F16 file holds exactly torch's float32 -> float16 rounding of the
    F32 file;
  - `traitscope-cli predict` on a PNG equals torch's forward pass of the same
    weights on the same pixels, resized with
    interpolate(bilinear, align_corners=False) and normalised with the
    metadata's mean/std (so the input rule of face/input.h is the one a
    PyTorch user would reproduce from the metadata).
Exits 77 when torch is not installed.
"""
import json
import os
import random
import struct
import subprocess
import sys
import tempfile
import zlib

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    print("skip: torch is not installed (Debian: python3-torch)")
    sys.exit(77)

CLI = sys.argv[1]
ARCH = os.path.join(os.environ.get("TS_SOURCE_ROOT", "."), "tests", "nn", "tiny.arch")
DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}


def load_safetensors(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__")
    data = raw[8 + n:]
    tensors = {}
    for name, e in header.items():
        b, end = e["data_offsets"]
        t = torch.frombuffer(bytearray(data[b:end]), dtype=DTYPES[e["dtype"]])
        tensors[name] = t.reshape(e["shape"])
    return meta, tensors


def write_png(path, w, h, rgb):
    rows = b"".join(b"\x00" + bytes(rgb[y * w * 3:(y + 1) * w * 3]) for y in range(h))

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


class Tiny(torch.nn.Module):
    """tests/nn/tiny.arch written in PyTorch."""

    def __init__(self, ch, classes, size):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(ch, 4, 3, stride=2)
        self.conv2a = torch.nn.Conv2d(4, 4, 1)
        self.conv2b = torch.nn.Conv2d(4, 4, 3, padding=1, groups=2)
        s = -(-((size - 3) // 2 + 1 - 2) // 2) + 1  # Caffe/ceil pooling
        self.fc1 = torch.nn.Linear(8 * s * s, 8)
        self.fc2 = torch.nn.Linear(8, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2, 2, ceil_mode=True)
        x = F.relu(torch.cat([self.conv2a(x), self.conv2b(x)], 1))
        return self.fc2(self.fc1(x.flatten(1)))  # dropout is off in eval


failures = 0


def check(cond, what):
    global failures
    if not cond:
        print("FAILED:", what, file=sys.stderr)
        failures += 1


with tempfile.TemporaryDirectory() as tmp:
    f32, f16 = os.path.join(tmp, "a.safetensors"), os.path.join(tmp, "b.safetensors")
    for path, dt in ((f32, "f32"), (f16, "f16")):
        subprocess.run([CLI, "init", "--arch", ARCH, "--size", "32", "--classes", "3", "--seed", "9",
                        "--dtype", dt, "--out", path], check=True, capture_output=True)
    meta, t32 = load_safetensors(f32)
    meta16, t16 = load_safetensors(f16)
    check(meta["format"] == "pt" and meta["arch"] == "tiny", "metadata strings")
    net = Tiny(3, 3, 32)
    try:
        net.load_state_dict(t32, strict=True)
    except RuntimeError as e:
        check(False, f"load_state_dict: {e}")
    check(set(t16) == set(t32), "same tensors in F16")
    for k in t32:
        check(t16[k].dtype == torch.float16, f"{k} stored as F16")
        check(torch.equal(t32[k].half(), t16[k]), f"{k}: F16 file equals torch's rounding")

    # predict vs torch on a 45x37 PNG of random pixels
    rng = random.Random(4)
    w, h = 45, 37
    rgb = [rng.randrange(256) for _ in range(w * h * 3)]
    png = os.path.join(tmp, "face.png")
    write_png(png, w, h, rgb)
    p = subprocess.run([CLI, "predict", "--model", f32, "--device", "cpu", png],
                       capture_output=True, text=True)
    check(p.returncode == 0, f"predict ({p.stderr.strip()})")
    ours = json.loads(p.stdout)["probabilities"]
    x = torch.tensor(rgb, dtype=torch.float32).reshape(1, h, w, 3).permute(0, 3, 1, 2) / 255.0
    x = F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False, antialias=False)
    mean = torch.tensor(json.loads(meta["input_mean"])).reshape(1, 3, 1, 1)
    std = torch.tensor(json.loads(meta["input_std"])).reshape(1, 3, 1, 1)
    net.eval()
    with torch.no_grad():
        ref = torch.softmax(net((x - mean) / std), 1)[0]
    classes = json.loads(meta["classes"])
    diff = max(abs(ours[c] - ref[i].item()) for i, c in enumerate(classes))
    print(f"predict vs torch: max |dp| = {diff:.2e}")
    check(diff < 1e-5, f"predict matches torch (max diff {diff})")

if failures:
    print(f"{failures} check(s) failed", file=sys.stderr)
    sys.exit(1)
print("checkpoint-torch: all checks passed")
