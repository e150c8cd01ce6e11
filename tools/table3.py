#!/usr/bin/env python3
"""table3.py - the Table 3 rows of docs/results.md from the files that
docs/results.sh's table3 stage leaves in OUT: per trait and seed the two
training summaries (t3-T-V-sS.json) and the paired comparison
(t3-T-compare-sS.json).  Prints Markdown: ours beside the LACNN paper's
Table 3, mean +- sd over the seeds run, McNemar per seed.

usage: tools/table3.py OUT [--json]
"""
import glob
import json
import os
import re
import statistics
import sys

# The LACNN paper's Table 3 (accuracy %, baseline and LACNN).
PAPER = {
    "gender": (98.46, 98.33), "ethnicity": (82.7, 83.35), "hair": (91.0, 91.69), "makeup": (92.5, 92.87),
    "age": (88.42, 88.83), "emotion": (88.93, 88.33), "attractive": (78.44, 78.85), "chubby": (60.6, 61.38),
}
ORDER = ["gender", "ethnicity", "hair", "makeup", "age", "emotion", "attractive", "chubby"]


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def fmt(vals):
    if not vals:
        return "-"
    m = statistics.mean(vals)
    if len(vals) == 1:
        return f"{m:.2f}"
    return f"{m:.2f} +- {statistics.stdev(vals):.2f}"


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: tools/table3.py OUT [--json]")
    out = sys.argv[1]
    rows = []
    for t in ORDER:
        seeds = sorted({int(m.group(1)) for p in glob.glob(os.path.join(out, f"t3-{t}-compare-s*.json"))
                        if (m := re.search(r"-s(\d+)\.json$", p))})
        acc = {"baseline": [], "lacnn": []}
        bal = {"baseline": [], "lacnn": []}
        mcn, epochs, secs = [], {"baseline": [], "lacnn": []}, 0.0
        images = 0
        for s in seeds:
            c = load(os.path.join(out, f"t3-{t}-compare-s{s}.json"))
            if not c:
                continue
            images = c["images"]
            for v in ("baseline", "lacnn"):
                acc[v].append(100 * c[v]["accuracy"])
                bal[v].append(100 * c[v].get("balanced_accuracy", float("nan")))
                tr = load(os.path.join(out, f"t3-{t}-{v}-s{s}.json"))
                if tr:
                    epochs[v].append(tr.get("best_epoch", 0))
                    secs += tr.get("seconds", 0.0)
            m = c["mcnemar"]
            mcn.append(f"s{s}: {m['baseline_only']}/{m['lacnn_only']} p={m['p']:.2g}")
        if not acc["baseline"]:
            continue
        d = [b - a for a, b in zip(acc["baseline"], acc["lacnn"])]
        rows.append({
            "trait": t, "seeds": seeds, "images": images,
            "paper": PAPER.get(t), "baseline": acc["baseline"], "lacnn": acc["lacnn"],
            "baseline_balanced": bal["baseline"], "lacnn_balanced": bal["lacnn"], "difference": d,
            "mcnemar": mcn, "best_epochs": epochs, "train_minutes": secs / 60,
        })
    if "--json" in sys.argv:
        print(json.dumps(rows))
        return
    print("| Trait | Paper baseline | Paper LACNN | Ours baseline | Ours LACNN | Δ (points) | balanced (B / L) "
          "| McNemar b/c, p per seed | best epoch (B / L) | test images | train min (both nets, all seeds) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        pb, pl = r["paper"] or ("-", "-")
        print(f"| {r['trait']} | {pb} | {pl} | {fmt(r['baseline'])} | {fmt(r['lacnn'])} | {fmt(r['difference'])} "
              f"| {fmt(r['baseline_balanced'])} / {fmt(r['lacnn_balanced'])} | {'; '.join(r['mcnemar'])} "
              f"| {','.join(map(str, r['best_epochs']['baseline']))} / {','.join(map(str, r['best_epochs']['lacnn']))} "
              f"| {r['images']} | {r['train_minutes']:.0f} |")


if __name__ == "__main__":
    main()
