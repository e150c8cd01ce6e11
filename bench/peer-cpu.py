#!/usr/bin/python3
"""peer-cpu.py - the PyTorch side of bench-cpu: AlexNet (the built-in
"alexnet" architecture of src/nn/arch.c: Caffe bvlc_alexnet layer order,
groups=2 in conv2/4/5, LRN size 5 alpha 1e-4 beta 0.75 k 1, ceil-mode max
pooling, two 4096-wide FC layers with dropout 0.5) on the CPU.

Measures, with torch.set_num_threads(--threads):
  forward latency at batch 1 in eval mode (median of --repeats runs, ms),
  forward + softmax cross-entropy + backward at batch --batch in train mode
  (median of --train-repeats steps, images/s),
and prints one JSON line (wall clock, and process CPU time beside it).  Run with Debian's /usr/bin/python3 (python3-torch).
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
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--train-repeats", type=int, default=5)
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    net = alexnet(a.channels, a.classes, a.size)

    net.eval()
    x1 = torch.randn(1, a.channels, a.size, a.size)
    times, cpu = [], []
    with torch.no_grad():
        for i in range(a.repeats + 3):
            t0, c0 = time.perf_counter(), time.process_time()
            net(x1)
            t1, c1 = time.perf_counter(), time.process_time()
            if i >= 3:
                times.append(t1 - t0)
                cpu.append(c1 - c0)
    fwd_ms = statistics.median(times) * 1e3
    fwd_cpu_ms = statistics.median(cpu) * 1e3

    net.train()
    xb = torch.randn(a.batch, a.channels, a.size, a.size)
    yb = torch.randint(0, a.classes, (a.batch,))
    loss_fn = nn.CrossEntropyLoss()
    times, cpu = [], []
    for i in range(a.train_repeats + 1):
        t0, c0 = time.perf_counter(), time.process_time()
        net.zero_grad(set_to_none=False)
        loss = loss_fn(net(xb), yb)
        loss.backward()
        t1, c1 = time.perf_counter(), time.process_time()
        if i >= 1:
            times.append(t1 - t0)
            cpu.append(c1 - c0)
    ips = a.batch / statistics.median(times)
    cpu_ips = a.batch / statistics.median(cpu)
    print(json.dumps({"fwd_b1_ms": fwd_ms, "train_ips": ips, "fwd_b1_cpu_ms": fwd_cpu_ms,
                      "train_cpu_ips": cpu_ips, "threads": a.threads,
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
