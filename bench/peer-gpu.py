#!/usr/bin/python3
"""peer-gpu.py - the PyTorch side of bench-gpu: AlexNet (the built-in
"alexnet" of src/nn/arch.c, the same network as peer-cpu.py) on the GPU
with cuDNN.

Measures, each the median of --repeats runs after warm-up (cudnn.benchmark
on, so cuDNN picks its algorithms once per shape, like our plan cache):
  forward latency at batch 1, eval mode (ms),
  forward throughput at batch 256, eval mode (images/s),
  training step at batch 128: zero_grad, forward (dropout on), softmax
  cross-entropy, backward, torch.optim.SGD(lr 0.01, momentum 0.9,
  weight_decay 5e-4) step (images/s).
Inputs start on the host and move with .cuda() inside the timing; the
logits come back with .cpu(), which is also the synchronisation, exactly
the steps bench-gpu times for us.  Strict float32 unless --tf32.
Prints one JSON line, or {"skip": why} when there is no usable GPU.
bench-gpu runs it with the first python that has torch ($TS_PYTHON,
python3, /opt/torch/.venv/bin/python3, /usr/bin/python3).
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from importlib import import_module  # noqa: E402

alexnet = import_module("peer-cpu").alexnet


def timed(fn, repeats, warm):
    times = []
    for i in range(repeats + warm):
        t0 = time.perf_counter()
        fn()
        t1 = time.perf_counter()
        if i >= warm:
            times.append(t1 - t0)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--tf32", action="store_true")
    a = ap.parse_args()
    if not torch.cuda.is_available():
        print(json.dumps({"skip": "no usable GPU for PyTorch"}))
        return
    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.allow_tf32 = a.tf32
    torch.backends.cuda.matmul.allow_tf32 = a.tf32
    torch.manual_seed(1)
    dev = torch.device("cuda")
    net = alexnet(3, 2, 150).to(dev)

    net.eval()
    x1 = torch.randn(1, 3, 150, 150)
    x256 = torch.randn(256, 3, 150, 150)
    with torch.no_grad():
        fwd1 = timed(lambda: net(x1.cuda()).cpu(), a.repeats, 3)
        fwd256 = timed(lambda: net(x256.cuda()).cpu(), a.repeats, 3)

    net.train()
    x128 = torch.randn(128, 3, 150, 150)
    y128 = torch.randint(0, 2, (128,))
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=False)
        out = net(x128.cuda())
        loss = loss_fn(out, y128.cuda())
        loss.backward()
        opt.step()
        out.detach().cpu()
        torch.cuda.synchronize()

    train = timed(step, a.repeats, 2)
    print(json.dumps({"fwd_b1_ms": fwd1 * 1e3, "fwd_b256_ips": 256 / fwd256, "train_b128_ips": 128 / train,
                      "torch": torch.__version__, "gpu": torch.cuda.get_device_name(0), "tf32": a.tf32}))


if __name__ == "__main__":
    main()
