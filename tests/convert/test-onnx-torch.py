#!/usr/bin/python3
"""test-onnx-torch.py - ONNX files made by PyTorch, imported by Traitscope.

usage: test-onnx-torch.py CONVERT_RUN   (meson passes tests/convert/convert-run)

Everything is generated at test time in a temporary folder:
  1. a network built with torch.nn (conv with padding and stride, batch
     norm, ReLU, ceil-mode max pooling, a two-branch block with a grouped
     bias-free conv and LeakyReLU joined by torch.cat, a residual addition,
     padded average pooling, flatten, linear, dropout, linear, and a softmax
     at the end) is exported by torch.onnx.export (opset 13); our import
     must give the logits torch computes (before the softmax) within 1e-4;
  2. a graph written with onnx.helper that has what torch's exporter folds
     or never writes: BatchNormalization after Conv, LRN, Reshape to
     (batch, -1), MatMul + Add, Gemm with transB = 0 and alpha/beta, and a
     final Softmax; the reference comes from torch.nn.functional;
  3. a network with a Sigmoid must be refused with a message naming it.
Skips (77) without torch; part 2 needs python3-onnx.
"""
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as e:
    print(f"skip: needs python3-torch and python3-numpy ({e})")
    sys.exit(77)
try:
    import onnx
    from onnx import helper, numpy_helper, TensorProto
except ImportError:
    onnx = None

RUN = sys.argv[1]
failures = 0
torch.manual_seed(0)


def check(cond, what):
    global failures
    if not cond:
        print("FAILED:", what, file=sys.stderr)
        failures += 1


def ours(model_path, x, tmp):
    inp, out = os.path.join(tmp, "in.f32"), os.path.join(tmp, "out.f32")
    x.detach().numpy().astype("<f4").tofile(inp)
    p = subprocess.run([RUN, model_path, inp, out], capture_output=True, text=True)
    if p.returncode != 0:
        return None, p.stderr
    return np.fromfile(out, dtype="<f4").reshape(x.shape[0], -1), p.stderr


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 5, stride=2, padding=2)
        self.bn1 = nn.BatchNorm2d(8)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.a = nn.Conv2d(8, 6, 1)
        self.b = nn.Conv2d(8, 6, 3, padding=1, groups=2, bias=False)
        self.c3 = nn.Conv2d(12, 12, 3, padding=1)
        self.pool2 = nn.AvgPool2d(2, 2, padding=1)
        self.fc1 = nn.Linear(12 * 5 * 5, 16)
        self.drop = nn.Dropout(0.5)
        self.fc2 = nn.Linear(16, 3)

    def forward(self, x):
        x = self.pool1(F.relu(self.bn1(self.conv1(x))))
        cat = torch.cat([self.a(x), F.leaky_relu(self.b(x), 0.1)], 1)
        x = self.pool2(cat + self.c3(cat))
        x = torch.flatten(x, 1)
        return self.fc2(self.drop(F.relu(self.fc1(x))))


class WithSoftmax(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return torch.softmax(self.net(x), 1)


with tempfile.TemporaryDirectory() as tmp:
    # 1. torch.onnx.export
    net = Block()
    with torch.no_grad():
        net.bn1.running_mean.uniform_(-0.5, 0.5)
        net.bn1.running_var.uniform_(0.5, 2.0)
        net.bn1.weight.uniform_(0.5, 1.5)
        net.bn1.bias.uniform_(-0.3, 0.3)
    net.eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        ref = net(x).numpy()
    path = os.path.join(tmp, "torch.onnx")
    torch.onnx.export(WithSoftmax(net), torch.randn(1, 3, 32, 32), path, opset_version=13,
                      input_names=["input"], output_names=["prob"],
                      dynamic_axes={"input": {0: "batch"}, "prob": {0: "batch"}})
    got, err = ours(path, x, tmp)
    check(got is not None, f"torch-exported model imports ({err.strip()})")
    if got is not None:
        diff = float(np.abs(got - ref).max())
        print(f"torch.onnx.export model: max |ours - torch| = {diff:.3g}")
        check(diff <= 1e-4, f"logits within 1e-4 of torch (got {diff:.3g})")

    # 2. a graph with the operators torch folds away, written with onnx.helper
    if onnx is None:
        print("note: python3-onnx missing, hand-written ONNX graph not tested")
    else:
        rng = np.random.default_rng(1)
        f32 = lambda *s: rng.standard_normal(s).astype(np.float32)
        W1, B1 = f32(6, 3, 3, 3), f32(6)
        gamma, beta = rng.uniform(0.5, 1.5, 6).astype(np.float32), f32(6)
        mean, var = f32(6), rng.uniform(0.5, 2.0, 6).astype(np.float32)
        W2, B2 = f32(6 * 4 * 4, 10) * 0.1, f32(10)
        W3, C3 = f32(10, 4), f32(4)
        inits = [numpy_helper.from_array(a, n) for a, n in [
            (W1, "W1"), (B1, "B1"), (gamma, "gamma"), (beta, "beta"), (mean, "mean"), (var, "var"),
            (W2, "W2"), (B2, "B2"), (W3, "W3"), (C3, "C3"),
            (np.array([0, -1], dtype=np.int64), "shape")]]
        nodes = [
            helper.make_node("Conv", ["x", "W1", "B1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
            helper.make_node("BatchNormalization", ["c1", "gamma", "beta", "mean", "var"], ["bn"],
                             name="bn1", epsilon=1e-3),
            helper.make_node("Relu", ["bn"], ["r1"], name="relu1"),
            helper.make_node("LRN", ["r1"], ["n1"], name="norm1", size=3, alpha=1e-3, beta=0.75, bias=2.0),
            helper.make_node("MaxPool", ["n1"], ["p1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
            helper.make_node("Reshape", ["p1", "shape"], ["flat"], name="flatten"),
            helper.make_node("MatMul", ["flat", "W2"], ["mm"], name="fc1"),
            helper.make_node("Add", ["mm", "B2"], ["fc1b"], name="fc1_bias"),
            helper.make_node("LeakyRelu", ["fc1b"], ["l1"], name="leaky", alpha=0.2),
            helper.make_node("Gemm", ["l1", "W3", "C3"], ["logits"], name="fc2", alpha=0.5, beta=2.0),
            helper.make_node("Softmax", ["logits"], ["prob"], name="softmax", axis=1),
        ]
        graph = helper.make_graph(nodes, "handmade",
                                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
                                  [helper.make_tensor_value_info("prob", TensorProto.FLOAT, ["N", 4])], inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        model.ir_version = 7
        onnx.checker.check_model(model)
        path2 = os.path.join(tmp, "handmade.onnx")
        onnx.save(model, path2)
        x2 = torch.randn(3, 3, 8, 8)
        t = lambda a: torch.from_numpy(a)
        with torch.no_grad():
            y = F.conv2d(x2, t(W1), t(B1), padding=1)
            y = F.batch_norm(y, t(mean), t(var), t(gamma), t(beta), False, 0.0, 1e-3)
            y = F.local_response_norm(F.relu(y), 3, alpha=1e-3, beta=0.75, k=2.0)
            y = F.max_pool2d(y, 2, 2).flatten(1)
            y = F.leaky_relu(y @ t(W2) + t(B2), 0.2)
            ref2 = (0.5 * (y @ t(W3)) + 2.0 * t(C3)).numpy()
        got, err = ours(path2, x2, tmp)
        check(got is not None, f"hand-written model imports ({err.strip()})")
        if got is not None:
            diff = float(np.abs(got - ref2).max())
            print(f"hand-written ONNX (BatchNorm, LRN, MatMul+Add, Gemm): max |ours - torch| = {diff:.3g}")
            check(diff <= 1e-4, f"hand-written graph within 1e-4 (got {diff:.3g})")

    # 3. an operator we do not have is named
    class Sig(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)

        def forward(self, x):
            return torch.sigmoid(self.conv(x)).mean((2, 3))

    path3 = os.path.join(tmp, "sigmoid.onnx")
    torch.onnx.export(Sig(), torch.randn(1, 3, 16, 16), path3, opset_version=13)
    got, err = ours(path3, torch.randn(1, 3, 16, 16), tmp)
    check(got is None and "Sigmoid" in err and "sigmoid.onnx" in err,
          f"a Sigmoid is refused with a message naming it and the file ({err.strip()})")

if failures:
    print(f"{failures} check(s) failed", file=sys.stderr)
    sys.exit(1)
print("ok")
