#!/usr/bin/python3
"""peer-train.py - the PyTorch side of bench-train: training images per
second for the built-in "alexnet" of src/nn/arch.c (Caffe bvlc_alexnet
layer order, groups=2 in conv2/4/5, LRN 5/1e-4/0.75/1, ceil-mode max
pooling, two 4096-wide FC layers with dropout 0.5), or for any chain
network given as our architecture text (--arch-file, already expanded:
conv2d, relu, leaky_relu, lrn, maxpool, avgpool, fc, dropout, batchnorm), at --size,
batch --batch, on the CPU with torch.set_num_threads(--threads).

One step = forward (train mode) + softmax cross-entropy + backward + SGD
(momentum 0.9, weight decay 5e-4), the same work as one step of
traitscope's training job.  Prints one JSON line:
{"peer":"torch X.Y","images_per_s":R,"step_ms":M}, the median over
--steps steps after --warmup.  Run with Debian's /usr/bin/python3.

--serve: after the warm-up, print {"ready": ...} and then run one step per
line read from standard input, answering each with its time in ms; this is
how bench-train alternates its steps with ours, so that both sides see the
same machine (a shared 2-core machine's speed drifts by half within a
minute).
"""
import argparse
import json
import statistics
import sys
import time
import warnings

import torch
import torch.nn as nn


def alexnet(in_ch, classes, size):
    feats = nn.Sequential(
        nn.Conv2d(in_ch, 96, 11, stride=4), nn.ReLU(),
        nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0),
        nn.MaxPool2d(3, 2, ceil_mode=True),
        nn.Conv2d(96, 256, 5, padding=2, groups=2), nn.ReLU(),
        nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0),
        nn.MaxPool2d(3, 2, ceil_mode=True),
        nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 384, 3, padding=1, groups=2), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1, groups=2), nn.ReLU(),
        nn.MaxPool2d(3, 2, ceil_mode=True),
    )
    with torch.no_grad():
        flat = feats(torch.zeros(1, in_ch, size, size)).numel()
    return nn.Sequential(
        feats, nn.Flatten(),
        nn.Linear(flat, 4096), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(4096, classes),
    )


def from_arch(path, in_ch, size):
    """A torch.nn.Sequential from our (expanded) architecture language, chain
    networks only: each line `OP NAME key=value...` (src/nn/arch.h)."""
    layers, ch, flat = [], in_ch, False
    for raw in open(path):
        line = raw.split("#", 1)[0].split()
        if not line or line[0] in ("input", "output"):
            continue
        op, kv = line[0], dict(t.split("=", 1) for t in line[2:])
        if any(k == "in" for k in kv):
            raise SystemExit(f"peer-train: {path}: only chain networks (no in=)")
        gi = lambda k, d: int(kv.get(k, d))
        if op == "conv2d":
            k = gi("k", 1)
            kh, kw = gi("kh", k), gi("kw", k)
            p = kv.get("pad", "0").split(",")
            if len(p) != 1:
                raise SystemExit("peer-train: asymmetric pads are not supported here")
            layers.append(nn.Conv2d(ch, gi("out", 1), (kh, kw), stride=gi("stride", 1), padding=int(p[0]),
                                    groups=gi("groups", 1), bias=kv.get("bias", "1") != "0"))
            ch = gi("out", 1)
        elif op == "relu":
            layers.append(nn.ReLU())
        elif op == "leaky_relu":
            layers.append(nn.LeakyReLU(float(kv.get("slope", "0.01"))))
        elif op == "lrn":
            layers.append(nn.LocalResponseNorm(gi("size", 5), alpha=float(kv.get("alpha", "1e-4")),
                                               beta=float(kv.get("beta", "0.75")), k=float(kv.get("k", "1"))))
        elif op in ("maxpool", "avgpool"):
            if kv.get("global") == "1":
                layers.append(nn.AdaptiveMaxPool2d(1) if op == "maxpool" else nn.AdaptiveAvgPool2d(1))
                continue
            cls = nn.MaxPool2d if op == "maxpool" else nn.AvgPool2d
            layers.append(cls(gi("k", 2), gi("stride", 1), padding=gi("pad", 0), ceil_mode=kv.get("round", "ceil") == "ceil"))
        elif op == "fc":
            if not flat:
                layers.append(nn.Flatten())
                flat = True
            layers.append(nn.LazyLinear(gi("out", 1), bias=kv.get("bias", "1") != "0"))
            ch = gi("out", 1)
        elif op == "dropout":
            layers.append(nn.Dropout(float(kv.get("p", "0.5"))))
        elif op == "batchnorm":
            eps, mom = float(kv.get("eps", "1e-5")), float(kv.get("momentum", "0.1"))
            layers.append(nn.BatchNorm1d(ch, eps, mom) if flat else nn.BatchNorm2d(ch, eps, mom))
        else:
            raise SystemExit(f"peer-train: op '{op}' is not supported here")
    net = nn.Sequential(*layers)
    with torch.no_grad():
        net(torch.zeros(1, in_ch, size, size))  # sizes the lazy layers
    return net


def main():
    warnings.filterwarnings("ignore", message="Lazy modules")  # nn.LazyLinear sizes the fc layers
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--size", type=int, default=150)
    ap.add_argument("--channels", type=int, default=3)
    ap.add_argument("--classes", type=int, default=2)
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--arch-file", help="our expanded architecture text (chain networks)")
    ap.add_argument("--serve", action="store_true", help="one step per line of standard input")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    net = from_arch(a.arch_file, a.channels, a.size) if a.arch_file else alexnet(a.channels, a.classes, a.size)
    net.train()
    opt = torch.optim.SGD(net.parameters(), lr=0.001, momentum=0.9, weight_decay=5e-4)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.randn(a.batch, a.channels, a.size, a.size)
    y = torch.randint(0, a.classes, (a.batch,))

    def step():
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=False)
        loss = loss_fn(net(x), y)
        loss.backward()
        opt.step()
        return time.perf_counter() - t0

    version = "torch " + torch.__version__
    if a.serve:
        for _ in range(a.warmup):
            step()
        print(json.dumps({"ready": version}), flush=True)
        for line in sys.stdin:
            if line.strip() != "step":
                break
            print(f"{step() * 1000.0:.3f}", flush=True)
        return
    times = []
    for i in range(a.warmup + a.steps):
        t = step()
        if i >= a.warmup:
            times.append(t)
    med = statistics.median(times)
    print(json.dumps({"peer": version, "images_per_s": a.batch / med, "step_ms": med * 1000.0}))


if __name__ == "__main__":
    main()
