#!/bin/sh
# make-convert-seeds.sh - regenerates the seeds of fuzz-onnx, fuzz-caffemodel
# and fuzz-prototxt with our own writers (traitscope-cli convert).
# usage: make-convert-seeds.sh BUILD_DIR   (run from the repository root)
set -e
cli="$1/src/cli/traitscope-cli"
out=tests/fuzz/seeds
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/small.arch" <<'ARCH'
input channels=3 size=16
conv2d conv1 out=4 k=3 stride=2 pad=1
relu relu1
lrn norm1 size=3 alpha=0.001 beta=0.75 k=2
maxpool pool1 k=3 stride=2
conv2d b1 out=2 k=1
conv2d b2 out=2 k=3 pad=1 groups=2 in=pool1
leaky_relu lr2 slope=0.1
concat cat in=b1,lr2
conv2d c3 out=4 k=1
add sum in=cat,c3
avgpool pool2 k=2 stride=2 pad=1
fc fc1 out=6
relu relu3
dropout drop p=0.5
fc fc2 out=2
ARCH
"$cli" init --arch "$tmp/small.arch" --size 16 --classes 2 --class-names f,m --trait gender --out "$tmp/small.safetensors" >/dev/null
"$cli" convert "$tmp/small.safetensors" "$out/onnx-small.onnx" >/dev/null
"$cli" convert "$tmp/small.safetensors" "$tmp/caffe-small.caffemodel" >/dev/null
cp "$tmp/caffe-small.caffemodel" "$tmp/caffe-small.prototxt" "$tmp/caffe-small.binaryproto" "$out/"
# batchnorm layers (behind a conv and behind an fc): ONNX only (Caffe has none)
cat > "$tmp/bn.arch" <<'ARCH'
input channels=3 size=16
conv2d conv1 out=4 k=3 stride=2 pad=1 bias=0
batchnorm bn1 eps=0.001
relu relu1
maxpool pool1 k=3 stride=2
fc fc1 out=6
batchnorm bn2
relu relu2
fc fc2 out=2
ARCH
"$cli" init --arch "$tmp/bn.arch" --size 16 --classes 2 --class-names f,m --trait gender --out "$tmp/bn.safetensors" >/dev/null
"$cli" convert "$tmp/bn.safetensors" "$out/onnx-bn.onnx" >/dev/null
