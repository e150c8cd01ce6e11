#!/usr/bin/env python3
"""utk-groups.py - gender accuracy of `traitscope-cli eval --per-image` lines
on UTKFace, by age band and by ethnicity x gender, read from UTKFace's file
names (AGE_GENDER_RACE_DATE.jpg.chip.jpg; gender 0 male, 1 female; race 0
white, 1 black, 2 asian, 3 indian, 4 others).

usage: utk-groups.py EVAL.jsonl [EVAL2.jsonl ...] [--json]

One column per file, with Wilson 95 % intervals in --json.  Lines whose
name does not parse are counted and reported, not guessed.
"""
import importlib.util
import json
import os
import sys

AGES = [(0, 12), (13, 19), (20, 39), (40, 59), (60, 200)]
RACES = ["white", "black", "asian", "indian", "others"]


def _compare_peer():
    """compare-peer.py beside this file (its name is not importable as is)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "compare-peer.py")
    spec = importlib.util.spec_from_file_location("compare_peer", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


wilson = _compare_peer().wilson  # the same interval as compare-peer.py and eval.h


def parse_name(path):
    parts = os.path.basename(path).split("_")
    try:
        age, gender, race = int(parts[0]), int(parts[1]), int(parts[2])
    except (IndexError, ValueError):
        return None
    if gender not in (0, 1) or not 0 <= race < len(RACES):
        return None
    return age, gender, race


def age_label(lo, hi):
    return f"ages {lo}-{hi}" if hi < 200 else f"ages {lo}+"


def all_groups():
    out = ["all"] + [age_label(lo, hi) for lo, hi in AGES]
    for g in ("male", "female"):
        out += [f"{r} {g} (20-59)" for r in RACES]
    return out


def groups_of(path):
    fields = parse_name(path)
    if fields is None:
        return None
    age, gender, race = fields
    out = ["all"]
    out += [age_label(lo, hi) for lo, hi in AGES if lo <= age <= hi]
    if 20 <= age <= 59:
        out.append(f"{RACES[race]} {'male' if gender == 0 else 'female'} (20-59)")
    return out


def tally(path):
    counts, bad = {}, 0
    with open(path) as f:
        for n, line in enumerate(f, 1):
            try:
                rec = json.loads(line)
                correct = rec["traits"]["gender"]["correct"]
                groups = groups_of(rec["path"])
            except (ValueError, KeyError, TypeError):
                groups = None
            if groups is None:
                bad += 1
                continue
            for g in groups:
                k, m = counts.get(g, (0, 0))
                counts[g] = (k + bool(correct), m + 1)
    return counts, bad


def main(argv):
    as_json = "--json" in argv
    files = [a for a in argv if a != "--json"]
    if not files:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    columns = []
    for path in files:
        try:
            counts, bad = tally(path)
        except OSError as e:
            print(f"utk-groups.py: {path}: {e.strerror}", file=sys.stderr)
            return 1
        if bad:
            print(f"utk-groups.py: {path}: {bad} line(s) without a UTKFace name or a gender result, left out",
                  file=sys.stderr)
        columns.append(counts)
    order = [g for g in all_groups() if any(g in c for c in columns)]
    if as_json:
        out = {path: {g: {"correct": k, "n": m, "accuracy": k / m, "ci95": wilson(k, m)}
                      for g, (k, m) in counts.items()} for path, counts in zip(files, columns)}
        print(json.dumps(out, indent=1))
        return 0
    names = [os.path.basename(f) for f in files]
    if len(set(names)) < len(names):  # the same name in several folders
        names = [os.path.join(os.path.basename(os.path.dirname(os.path.abspath(f))), n) for f, n in zip(files, names)]
    print("| group | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(files))
    for g in order:
        cells = []
        for counts in columns:
            k, m = counts.get(g, (0, 0))
            cells.append(f"{100 * k / m:.1f} % ({m})" if m else "-")
        print(f"| {g} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
