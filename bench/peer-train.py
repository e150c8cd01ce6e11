#!/usr/bin/python3
"""peer-train.py - the PyTorch side of bench-train: training images per
second for the built-in "alexnet" of src/nn/arch.c (Caffe bvlc_alexnet
layer order, groups=2 in conv2/4/5, LRN 5/1e-4/0.75/1, ceil-mode max
pooling, two 4096-wide FC layers with dropout 0.5) at --size, batch
--batch, on the CPU with torch.set_num_threads(--threads).

One step = forward (train mode) + softmax cross-entropy + backward + SGD
(momentum 0.9, weight decay 5e-4), the same work as one step of
traitscope's training job.  Prints one JSON line:
{"peer":"torch X.Y","images_per_s":R,"step_ms":M}, the median over
--steps steps after --warmup.  Run with Debian's /usr/bin/python3.
"""
import argparse
import json
import statistics
import time

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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--size", type=int, default=150)
    ap.add_argument("--channels", type=int, default=3)
    ap.add_argument("--classes", type=int, default=2)
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    net = alexnet(a.channels, a.classes, a.size)
    net.train()
    opt = torch.optim.SGD(net.parameters(), lr=0.001, momentum=0.9, weight_decay=5e-4)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.randn(a.batch, a.channels, a.size, a.size)
    y = torch.randint(0, a.classes, (a.batch,))
    times = []
    for i in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=False)
        loss = loss_fn(net(x), y)
        loss.backward()
        opt.step()
        t1 = time.perf_counter()
        if i >= a.warmup:
            times.append(t1 - t0)
    med = statistics.median(times)
    print(json.dumps({"peer": "torch " + torch.__version__, "images_per_s": a.batch / med,
                      "step_ms": med * 1000.0}))


if __name__ == "__main__":
    main()
