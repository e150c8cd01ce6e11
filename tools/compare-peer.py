#!/usr/bin/env python3
"""compare-peer.py - one trait of our model against an outside model, image by
image: accuracy with Wilson 95% intervals, balanced accuracy, and McNemar's
test on the images both saw (the same statistics as `traitscope-cli compare`,
src/train/eval.h).

usage: tools/compare-peer.py OURS.jsonl PEER.jsonl --trait gender [--json]

OURS.jsonl is `traitscope-cli eval --per-image` output; PEER.jsonl has one
object per image with "path" and the peer's class in "gender" (what
tools/faceapi-gender.js writes).  Images are matched by path; an image only
one side has is counted and reported, not compared.
"""
import argparse
import json
import math
import sys


def wilson(k, n, z=1.959963984540054):
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z / d * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (max(0.0, c - h), min(1.0, c + h))


def mcnemar(b, c):
    """Exact two-sided binomial test below 25 discordant pairs, else the
    continuity-corrected chi-square (as eval.h)."""
    n = b + c
    if n == 0:
        return {"b": b, "c": c, "p": 1.0, "exact": True, "statistic": 0.0}
    if n < 25:
        k = min(b, c)
        tail = sum(math.comb(n, i) for i in range(k + 1)) / 2.0 ** n
        return {"b": b, "c": c, "p": min(1.0, 2 * tail), "exact": True, "statistic": 0.0}
    chi2 = (abs(b - c) - 1) ** 2 / n
    return {"b": b, "c": c, "p": math.erfc(math.sqrt(chi2 / 2)), "exact": False, "statistic": chi2}


def balanced(pairs):
    """pairs: (label, prediction); mean recall over the labels present."""
    classes = sorted({l for l, _ in pairs})
    rec = []
    for k in classes:
        sub = [p for l, p in pairs if l == k]
        rec.append(sum(1 for p in sub if p == k) / len(sub))
    return sum(rec) / len(rec) if rec else 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ours")
    ap.add_argument("peer")
    ap.add_argument("--trait", default="gender")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    ours = {}
    with open(a.ours) as f:
        for ln, line in enumerate(f, 1):
            try:
                o = json.loads(line)
            except ValueError as e:
                sys.exit(f"{a.ours}:{ln}: not JSON ({e})")
            t = o.get("traits", {}).get(a.trait)
            if t and t.get("label") is not None:
                ours[o["path"]] = (t["label"], t["prediction"])
    peer = {}
    with open(a.peer) as f:
        for ln, line in enumerate(f, 1):
            try:
                o = json.loads(line)
            except ValueError as e:
                sys.exit(f"{a.peer}:{ln}: not JSON ({e})")
            if a.trait not in o:
                sys.exit(f"{a.peer}:{ln}: no '{a.trait}' field")
            peer[o["path"]] = o[a.trait]
    both = sorted(set(ours) & set(peer))
    if not both:
        sys.exit("compare-peer: no image in both files")
    b = c = k_ours = k_peer = 0
    po, pp = [], []
    for p in both:
        label, mine = ours[p]
        theirs = peer[p]
        ro, rp = mine == label, theirs == label
        k_ours += ro
        k_peer += rp
        b += ro and not rp
        c += rp and not ro
        po.append((label, mine))
        pp.append((label, theirs))
    n = len(both)
    res = {
        "trait": a.trait,
        "images": n,
        "only_ours": len(set(ours) - set(peer)),
        "only_peer": len(set(peer) - set(ours)),
        "ours": {"accuracy": k_ours / n, "ci95": wilson(k_ours, n), "balanced_accuracy": balanced(po)},
        "peer": {"accuracy": k_peer / n, "ci95": wilson(k_peer, n), "balanced_accuracy": balanced(pp)},
        "mcnemar": mcnemar(b, c),
    }
    if a.json:
        print(json.dumps(res))
        return
    m = res["mcnemar"]
    print(f"{a.trait} on {n} images (only ours {res['only_ours']}, only peer {res['only_peer']})")
    for who in ("ours", "peer"):
        r = res[who]
        print(f"  {who:5s} {100 * r['accuracy']:6.2f}%  [{100 * r['ci95'][0]:.2f}, {100 * r['ci95'][1]:.2f}]"
              f"  balanced {100 * r['balanced_accuracy']:.2f}%")
    print(f"  McNemar: ours only right {m['b']}, peer only right {m['c']}, p = {m['p']:.3g}"
          f" ({'exact' if m['exact'] else 'chi-square'})")


if __name__ == "__main__":
    main()
