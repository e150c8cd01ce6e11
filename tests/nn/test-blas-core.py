#!/usr/bin/python3
"""test-blas-core.py - OpenBLAS runs kernels this CPU can use, not its generic ones.

usage: test-blas-core.py TRAITSCOPE_CLI   (meson passes the built program)

OpenBLAS 0.3.21 takes a CPU newer than it knows for a generic one and runs
its SSE3 kernels ("Prescott"); the programs set OPENBLAS_CORETYPE and start
again before main (src/backend/cpu/cpu.c).  `traitscope-cli device` reports
the kernels OpenBLAS loaded ("blas_kernels") and the better ones it should
have chosen ("blas_better", null when its choice is fine).  Checks:
  - without OPENBLAS_CORETYPE: blas_better is null, and on a CPU with AVX2
    and FMA the kernels are ones that use them; the restarted program got
    its arguments (it answers for --device cpu);
  - with OPENBLAS_CORETYPE=Prescott (the user's choice): kept, and on a CPU
    with AVX2 and FMA blas_better names the kernels it should have had;
  - a command's output and exit status survive the restart (--help);
  - started through the dynamic loader (ld.so PROGRAM ...), where
    /proc/self/exe is the loader, the program runs on without a restart.
"""
import json
import os
import subprocess
import sys

CLI = sys.argv[1]
failures = 0
MODERN = {"haswell", "zen", "skylakex", "cooperlake", "sapphirerapids"}


def check(cond, what):
    global failures
    print(("ok: " if cond else "FAILED: ") + what, file=sys.stdout if cond else sys.stderr)
    if not cond:
        failures += 1


def device(coretype):
    env = dict(os.environ)
    env.pop("OPENBLAS_CORETYPE", None)
    if coretype:
        env["OPENBLAS_CORETYPE"] = coretype
    p = subprocess.run([CLI, "device", "--device", "cpu"], capture_output=True, text=True, env=env, timeout=60)
    try:
        return p.returncode, json.loads(p.stdout)
    except ValueError:
        return p.returncode, {"unparsed": p.stdout + p.stderr}


flags = set()
with open("/proc/cpuinfo") as f:
    for line in f:
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
avx2 = {"avx2", "fma"} <= flags

rc, d = device(None)
check(rc == 0 and d.get("asked") == "cpu" and d.get("backend") == "cpu",
      f"device --device cpu answers, arguments kept across the restart ({d})")
check("blas_kernels" in d and d.get("blas_better") is None,
      f"no better kernels than the ones loaded ({d.get('blas_kernels')}, better {d.get('blas_better')})")
if avx2:
    check(str(d.get("blas_kernels", "")).lower() in MODERN,
          f"on a CPU with AVX2 and FMA, OpenBLAS runs kernels that use them ({d.get('blas_kernels')})")
else:
    print("note: this CPU lacks AVX2 or FMA; the kernels' choice is OpenBLAS's own")

rc, d = device("Prescott")
check(rc == 0 and d.get("blas_kernels") == "Prescott",
      f"OPENBLAS_CORETYPE=Prescott is kept ({d.get('blas_kernels')})")
if avx2:
    want = "SkylakeX" if {"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"} <= flags else "Haswell"
    check(d.get("blas_better") == want, f"the generic kernels are seen as such (better: {d.get('blas_better')}, "
          f"want {want})")

env = dict(os.environ)
env.pop("OPENBLAS_CORETYPE", None)
p = subprocess.run([CLI, "device", "--help"], capture_output=True, text=True, env=env, timeout=60)
check(p.returncode == 0 and p.stdout.startswith("usage: traitscope-cli device"),
      f"a command's output and status survive the restart (exit {p.returncode})")
p = subprocess.run([CLI, "device", "--bogus"], capture_output=True, text=True, env=env, timeout=60)
check(p.returncode == 2, f"and a usage error's status too (exit {p.returncode})")

# Started through the dynamic loader (as test-nocuda does): /proc/self/exe is
# the loader, so the program must not start itself again through it.
ldso = next((p for p in ("/lib64/ld-linux-x86-64.so.2", "/lib/ld-linux-aarch64.so.1") if os.path.exists(p)), None)
if ldso:
    p = subprocess.run([ldso, CLI, "device", "--device", "cpu"], capture_output=True, text=True, env=env, timeout=60)
    try:
        d = json.loads(p.stdout)
    except ValueError:
        d = {}
    check(p.returncode == 0 and d.get("asked") == "cpu",
          f"run through the dynamic loader it answers, no restart through the loader (exit {p.returncode}: "
          f"{p.stderr.strip()[:200]})")
sys.exit(1 if failures else 0)
