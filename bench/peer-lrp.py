#!/usr/bin/python3
"""peer-lrp.py - the PyTorch side of bench-lrp: forward + LRP (the Adience
paper's preset: epsilon 0.01 on fc, alpha=2 beta=1 on conv, winner-take-all
max pooling, LRN/ReLU/dropout pass-through) for the built-in AlexNet
(src/nn/arch.c) on the CPU, written the usual autograd way: for each layer
z = layer'(a), s = R / z, c = d(z * s.detach())/da, R = a * c, with the
alpha/beta parts as copies of the weights split by sign (made once, outside
the timing, as bench-lrp does).

Reads the weights, the input and bench-lrp's relevance from --data (records
written by bench-lrp.c: int32 ndim, int32 dims[4], float32 data, in the
order conv1.w, conv1.b, ..., fc8.b, input, relevance), checks that both
relevance maps agree, times --repeats runs at batch 1 with
torch.set_num_threads(--threads) and prints one JSON line.
Run with Debian's /usr/bin/python3 (python3-torch, python3-numpy).
"""
import argparse
import json
import statistics
import struct
import time

import numpy as np
import torch
import torch.nn.functional as F


def read_records(path):
    out = []
    with open(path, 'rb') as f:
        buf = f.read()
    off = 0
    while off < len(buf):
        ndim, d0, d1, d2, d3 = struct.unpack_from('<5i', buf, off)
        off += 20
        dims = [d0, d1, d2, d3][:ndim]
        n = int(np.prod(dims))
        out.append(torch.from_numpy(np.frombuffer(buf, np.float32, n, off).reshape(dims).copy()))
        off += 4 * n
    return out


CONVS = [  # name, stride, pad, groups; each followed by relu (+ lrn, pool)
    ('conv1', 4, 0, 1), ('conv2', 1, 2, 2), ('conv3', 1, 1, 1), ('conv4', 1, 1, 2), ('conv5', 1, 1, 2)]
POOL_AFTER = {'conv1', 'conv2', 'conv5'}
LRN_AFTER = {'conv1', 'conv2'}


class Net:
    def __init__(self, params):
        it = iter(params)
        self.conv = [(next(it), next(it)) for _ in CONVS]
        self.fc = [(next(it), next(it)) for _ in range(3)]
        # sign-split weights for alpha-beta, made once
        self.split = [(w.clamp(min=0), w.clamp(max=0)) for w, _ in self.conv]

    def forward(self, x):
        acts = []  # (kind, input) per layer, in order
        a = x
        for (name, s, p, g), (w, b) in zip(CONVS, self.conv):
            acts.append(('conv', a, (name, s, p, g)))
            a = F.relu(F.conv2d(a, w, b, s, p, 1, g))
            if name in LRN_AFTER:
                a = F.local_response_norm(a, 5, alpha=1e-4, beta=0.75, k=1.0)
            if name in POOL_AFTER:
                acts.append(('pool', a, None))
                a = F.max_pool2d(a, 3, 2, ceil_mode=True)
        a = a.flatten(1)
        for k, (w, b) in enumerate(self.fc):
            acts.append(('fc', a, k))
            a = F.linear(a, w, b)
            if k < 2:
                a = F.relu(a)
        return a, acts


def safe_div(r, z):
    return torch.where(z != 0, r / torch.where(z != 0, z, torch.ones_like(z)), torch.zeros_like(z))


def lrp(net, x, logits, acts):
    c = int(logits.argmax())
    R = torch.zeros_like(logits)
    R[0, c] = logits[0, c]
    ci = len(CONVS) - 1
    for kind, a, info in reversed(acts):
        if kind == 'fc':
            w, b = net.fc[info]
            R = R.reshape(1, -1)
            a = a.detach().requires_grad_(True)
            z = F.linear(a, w, b)
            z = z + 0.01 * torch.where(z >= 0, 1.0, -1.0)
            (z * (R / z).detach()).sum().backward()
            R = a * a.grad
        elif kind == 'pool':
            a = a.detach().requires_grad_(True)
            z = F.max_pool2d(a, 3, 2, ceil_mode=True)
            R = R.reshape(z.shape)
            (z * safe_div(R, z).detach()).sum().backward()
            R = a * a.grad
        else:
            name, s, p, g = info
            wp, wn = net.split[ci]
            ci -= 1
            ap = a.detach().clamp(min=0).requires_grad_(True)
            an = a.detach().clamp(max=0).requires_grad_(True)
            zp = F.conv2d(ap, wp, None, s, p, 1, g) + F.conv2d(an, wn, None, s, p, 1, g)
            (zp * safe_div(R, zp).detach()).sum().backward()
            Rp = ap * ap.grad + an * an.grad
            ap.grad = None
            an.grad = None
            zn = F.conv2d(ap, wn, None, s, p, 1, g) + F.conv2d(an, wp, None, s, p, 1, g)
            (zn * safe_div(R, zn).detach()).sum().backward()
            Rn = ap * ap.grad + an * an.grad
            R = 2.0 * Rp - 1.0 * Rn
    return R.detach()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--data', required=True)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--repeats', type=int, default=20)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    recs = read_records(a.data)
    params, x, ours = recs[:16], recs[16], recs[17]
    net = Net(params)

    def run():
        with torch.no_grad():
            logits, acts = net.forward(x)
        with torch.enable_grad():
            return lrp(net, x, logits, acts)

    R = run()
    diff = float((R - ours).abs().max() / R.abs().max())
    times = []
    for i in range(a.repeats + 2):
        t0 = time.perf_counter()
        run()
        t1 = time.perf_counter()
        if i >= 2:
            times.append(t1 - t0)
    print(json.dumps({'peer': 'torch ' + torch.__version__, 'threads': a.threads,
                      'lrp_ms': statistics.median(times) * 1e3,
                      'relevance_sum': float(R.sum()), 'max_rel_diff': diff}))


if __name__ == '__main__':
    main()
