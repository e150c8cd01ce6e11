#!/bin/sh
# make-checkpoint-seeds.sh - regenerates the seeds of fuzz-checkpoint:
# the tiny test network (tests/nn/tiny.arch) at 16x16, 3 channels F32 and
# 4 channels F16, about 5 KB each.
# usage: tests/fuzz/seeds/make-checkpoint-seeds.sh BUILD_DIR   (from the source root)
set -eu
cli="${1:?usage: $0 BUILD_DIR}/src/cli/traitscope-cli"
here=$(dirname "$0")
arch="$here/../../nn/tiny.arch"
"$cli" init --arch "$arch" --size 16 --classes 2 --class-names female,male --trait gender \
    --seed 1 --out "$here/checkpoint-f32.safetensors"
"$cli" init --arch "$arch" --size 16 --in-channels 4 --classes 3 --trait age \
    --alignment rotation --dtype f16 --seed 2 --out "$here/checkpoint-4ch-f16.safetensors"
# a network with batchnorm layers (running statistics as tensors)
printf 'input channels={channels} size={size}\nconv2d c1 out=4 k=3 bias=0\nbatchnorm b1\nrelu r1\nfc f out={classes}\n' \
    > "$here/bn.arch.tmp"
"$cli" init --arch "$here/bn.arch.tmp" --size 8 --classes 2 --trait gender --seed 3 \
    --out "$here/checkpoint-bn.safetensors"
rm -f "$here/bn.arch.tmp"
