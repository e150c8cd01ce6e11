#!/usr/bin/python3
"""make-golden.py - regenerates tests/nn/golden/small-net.bin, the PyTorch
reference that tests/nn/test-golden.c checks libtraitscope against.

Run from anywhere with Debian's Python (python3-torch):
    /usr/bin/python3 tests/nn/golden/make-golden.py

The network is written once, in the architecture language of src/nn/arch.h
(ARCH below, stored in the fixture so the C test builds exactly this), and
mirrored here in PyTorch: conv (groups=1, stride 2), ReLU, cross-channel LRN,
ceil-mode max pooling, conv with padding and groups=2, ReLU, ceil-mode max
pooling with padding, FC, ReLU, dropout (evaluation mode: identity), FC,
softmax cross-entropy over a batch of 2.

Weights and inputs are drawn from a fixed seed and rounded to float32 (both
sides use the same numbers); the reference computation runs in float64 so
that the only error left in the comparison is libtraitscope's own float32
rounding.

File format (little endian), every record:
    u32 name length, name bytes (ASCII, no NUL),
    u32 kind (0 = float32 array, 1 = raw bytes),
    u32 ndim (0..4), ndim x u32 dims,   (kind 1: ndim 1, dims[0] = length)
    payload (float32 x prod(dims), or the bytes)
after an 8-byte magic "TSGOLD1\\n".  Records: "arch" (bytes), "input",
"labels" (as float32), "<layer>.weight", "<layer>.bias" for each
parameterised layer, "<layer>.out" for every layer, "loss", and the
gradients "<layer>.weight.grad", "<layer>.bias.grad", "data.grad" (the
input) and "<layer>.out.grad" (dLoss/d output of every layer).
"""
import os
import struct

import numpy as np
import torch
import torch.nn.functional as F

ARCH = """# golden network of tests/nn/test-golden.c (see make-golden.py)
input   channels=3 size=19
conv2d  conv1 out=8 k=5 stride=2
relu    relu1
lrn     norm1 size=5 alpha=0.5 beta=0.75 k=1
maxpool pool1 k=3 stride=2
conv2d  conv2 out=6 k=3 pad=1 groups=2
relu    relu2
maxpool pool2 k=3 stride=2 pad=1
fc      fc1 out=10
relu    relu3
dropout drop1 p=0.5
fc      fc2 out=3
"""

N, C, S, CLASSES = 2, 3, 19, 3


def main():
    torch.manual_seed(20240611)
    f32 = lambda t: t.float().double()  # round to float32, compute in float64

    x = f32(torch.rand(N, C, S, S) * 2 - 1)
    labels = torch.tensor([2, 0])
    params = {
        "conv1.weight": f32(torch.randn(8, 3, 5, 5) * 0.25),
        "conv1.bias": f32(torch.randn(8) * 0.1),
        "conv2.weight": f32(torch.randn(6, 4, 3, 3) * 0.3),
        "conv2.bias": f32(torch.randn(6) * 0.1),
        "fc1.weight": f32(torch.randn(10, 6 * 3 * 3) * 0.2),
        "fc1.bias": f32(torch.randn(10) * 0.1),
        "fc2.weight": f32(torch.randn(CLASSES, 10) * 0.3),
        "fc2.bias": f32(torch.randn(CLASSES) * 0.1),
    }
    for p in params.values():
        p.requires_grad_(True)
    x.requires_grad_(True)

    outs = {}

    def keep(name, t):
        t.retain_grad()
        outs[name] = t
        return t

    P = params
    h = keep("conv1", F.conv2d(x, P["conv1.weight"], P["conv1.bias"], stride=2))
    h = keep("relu1", F.relu(h))
    # PyTorch's LocalResponseNorm divides alpha by size, like Caffe.
    h = keep("norm1", F.local_response_norm(h, 5, alpha=0.5, beta=0.75, k=1.0))
    h = keep("pool1", F.max_pool2d(h, 3, 2, ceil_mode=True))
    h = keep("conv2", F.conv2d(h, P["conv2.weight"], P["conv2.bias"], padding=1, groups=2))
    h = keep("relu2", F.relu(h))
    h = keep("pool2", F.max_pool2d(h, 3, 2, padding=1, ceil_mode=True))
    h = keep("fc1", F.linear(h.flatten(1), P["fc1.weight"], P["fc1.bias"]))
    h = keep("relu3", F.relu(h))
    h = keep("drop1", F.dropout(h, 0.5, training=False))
    h = keep("fc2", F.linear(h, P["fc2.weight"], P["fc2.bias"]))
    loss = F.cross_entropy(h, labels)
    loss.backward()

    assert outs["pool1"].shape[-1] == 4, "ceil rounding must matter (floor gives 3)"
    assert outs["pool2"].shape[-1] == 3

    recs = []

    def arr(name, t):
        recs.append((name, np.ascontiguousarray(t.detach().float().numpy())))

    arr("input", x)
    arr("labels", labels.float())
    for k, v in params.items():
        arr(k, v)
    for k, v in outs.items():
        shape = v.shape if v.dim() == 4 else (v.shape[0], v.shape[1], 1, 1)
        arr(k + ".out", v.reshape(shape))
    arr("loss", loss.reshape(1))
    arr("data.grad", x.grad)
    for k, v in params.items():
        arr(k + ".grad", v.grad)
    for k, v in outs.items():
        shape = v.shape if v.dim() == 4 else (v.shape[0], v.shape[1], 1, 1)
        arr(k + ".out.grad", v.grad.reshape(shape))

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "small-net.bin")
    with open(path + ".tmp", "wb") as f:
        f.write(b"TSGOLD1\n")

        def header(name, kind, dims):
            b = name.encode("ascii")
            f.write(struct.pack("<I", len(b)) + b + struct.pack("<II", kind, len(dims)))
            f.write(struct.pack("<%dI" % len(dims), *dims))

        a = ARCH.encode("ascii")
        header("arch", 1, [len(a)])
        f.write(a)
        for name, a in recs:
            header(name, 0, list(a.shape))
            f.write(a.astype("<f4").tobytes())
    os.replace(path + ".tmp", path)
    print("wrote %s (%d bytes, loss %.6f)" % (path, os.path.getsize(path), loss.item()))


if __name__ == "__main__":
    main()
