#!/bin/sh
# test-amap-ptx.sh - kernels/amap.cu must compute A(x,y)'s distances with
# explicitly rounded float operations only (issue 5; runs without a GPU).
#
# usage: test-amap-ptx.sh NVCC SOURCE_ROOT
#
# Why: the GPU map must equal the CPU reference byte for byte (face/amap.h),
# and the reference rounds after every -, * and +.  nvcc contracts a*b+c
# into one fma by default; the PTX ISA says instructions with an explicit
# rounding modifier (sub.rn/mul.rn/add.rn.f32) are treated conservatively
# and never fused, while unmodified mul/add "may be optimized to use
# fused-multiply-add".  So the kernel's PTX must hold sub/mul/add.rn.f32,
# no fma on f32, no unrounded f32 add/sub/mul, no .ftz (denormals kept, as
# on the CPU) and no .approx.  This reads the compiler's output; running
# the kernel against the CPU is test-ops --backend cuda (needs a GPU), its
# per-pixel body against the reference test-kernel-bodies (any machine).
set -u
NVCC=$1
ROOT=$2
if ! [ -x "$NVCC" ]; then
    echo "skip: no nvcc at '$NVCC'"
    exit 77
fi
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
if ! "$NVCC" -ptx -arch=compute_90 -I"$ROOT" -I"$ROOT/src" -o "$tmp/amap.ptx" "$ROOT/kernels/amap.cu" 2>"$tmp/err"; then
    echo "FAIL: nvcc -ptx kernels/amap.cu:"
    cat "$tmp/err"
    exit 1
fi
# the kernel's body only
sed -n '/\.entry .*amap_kernel/,/^}/p' "$tmp/amap.ptx" >"$tmp/k.ptx"
fail=0
if ! [ -s "$tmp/k.ptx" ]; then
    echo "FAIL: no amap_kernel entry in the PTX"
    exit 1
fi
n_rn=$(grep -c -E '(sub|mul|add)\.rn\.f32' "$tmp/k.ptx")
n_fma=$(grep -c -E 'fma\.[a-z.]*f32' "$tmp/k.ptx")
n_plain=$(grep -c -E '(sub|mul|add)\.f32' "$tmp/k.ptx")
n_ftz=$(grep -c -E '\.ftz|\.approx' "$tmp/k.ptx")
echo "amap_kernel: $n_rn rounded sub/mul/add.f32, $n_fma f32 fma, $n_plain unrounded, $n_ftz ftz/approx"
[ "$n_rn" -ge 5 ] || { echo "FAIL: expected the rounded distance arithmetic (sub.rn/mul.rn/add.rn.f32)"; fail=1; }
[ "$n_fma" -eq 0 ] || { echo "FAIL: a fused multiply-add in amap_kernel:"; grep -E 'fma\.' "$tmp/k.ptx"; fail=1; }
[ "$n_plain" -eq 0 ] || { echo "FAIL: unrounded f32 arithmetic the optimizer may fuse:"; grep -E '(sub|mul|add)\.f32' "$tmp/k.ptx"; fail=1; }
[ "$n_ftz" -eq 0 ] || { echo "FAIL: flush-to-zero or approximate f32 in amap_kernel"; fail=1; }
[ $fail -eq 0 ] && echo ok
exit $fail
