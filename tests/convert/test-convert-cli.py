#!/usr/bin/python3
"""test-convert-cli.py - `traitscope-cli convert` end to end, and our ONNX
export checked by tools that are not ours.

usage: test-convert-cli.py TRAITSCOPE_CLI CONVERT_RUN

A model with every op (written to a temporary .arch, made by `init`) is
converted safetensors -> onnx -> safetensors and safetensors -> caffemodel
(+ prototxt + binaryproto) -> safetensors.  Checks:
  - the JSON line of `convert` (format, classes, files written);
  - the exported ONNX passes onnx.checker.check_model (python3-onnx), and
    running its graph with a small PyTorch interpreter of the ONNX operators
    gives our logits within 1e-4 (so the file means what we meant, not only
    what our importer reads back);
  - ONNX and Caffe round trips give the same logits (Caffe: on the same
    pixels, the imported model's normalisation being 1/255 based);
  - --classes renames the outputs; a truncated file is refused naming it;
    a bad OUT extension is a usage error.
Skips (77) without torch/numpy; the checker part needs python3-onnx.
"""
import json
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError as e:
    print(f"skip: needs python3-torch and python3-numpy ({e})")
    sys.exit(77)
try:
    import onnx
    from onnx import numpy_helper
except ImportError:
    onnx = None

CLI, RUN = sys.argv[1], sys.argv[2]
failures = 0

ARCH = """input channels=3 size=32
conv2d conv1 out=8 k=5 stride=2 pad=2
relu relu1
lrn norm1 size=3 alpha=0.001 beta=0.75 k=2
maxpool pool1 k=3 stride=2
conv2d b1 out=6 k=1
conv2d b2 out=6 k=3 pad=1 groups=2 in=pool1
leaky_relu lr2 slope=0.1
concat cat in=b1,lr2
conv2d c3 out=12 k=3 pad=1
add sum in=cat,c3
avgpool pool2 k=2 stride=2 pad=1
fc fc1 out=16
relu relu3
dropout drop p=0.5
fc fc2 out=3
"""


def check(cond, what):
    global failures
    if not cond:
        print("FAILED:", what, file=sys.stderr)
        failures += 1


def cli(*args):
    p = subprocess.run([CLI, *args], capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def logits(model, x, tmp):
    inp, out = os.path.join(tmp, "in.f32"), os.path.join(tmp, "out.f32")
    x.astype("<f4").tofile(inp)
    p = subprocess.run([RUN, model, inp, out], capture_output=True, text=True)
    check(p.returncode == 0, f"convert-run {model}: {p.stderr.strip()}")
    return np.fromfile(out, dtype="<f4").reshape(x.shape[0], -1) if p.returncode == 0 else None


def run_onnx(model, x):
    """Evaluates an ONNX graph of the operators our exporter writes."""
    env = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in model.graph.initializer}
    env[model.graph.input[0].name] = torch.from_numpy(x)
    for n in model.graph.node:
        a = {at.name: onnx.helper.get_attribute_value(at) for at in n.attribute}
        i = [env[k] for k in n.input]
        op = n.op_type

        def pads4(t, fill):
            p = a.get("pads", [0, 0, 0, 0])
            return F.pad(t, (p[1], p[3], p[0], p[2]), value=fill)

        if op == "Conv":
            y = F.conv2d(pads4(i[0], 0.0), i[1], i[2] if len(i) > 2 else None,
                         stride=a["strides"], groups=a.get("group", 1))
        elif op == "Relu":
            y = F.relu(i[0])
        elif op == "LeakyRelu":
            y = F.leaky_relu(i[0], a["alpha"])
        elif op == "LRN":
            y = F.local_response_norm(i[0], a["size"], a["alpha"], a["beta"], a["bias"])
        elif op in ("MaxPool", "AveragePool"):
            p = a.get("pads", [0, 0, 0, 0])
            check(p[0] == p[2] and p[1] == p[3], "symmetric pool padding")
            if op == "MaxPool":
                y = F.max_pool2d(i[0], a["kernel_shape"], a["strides"], (p[0], p[1]),
                                 ceil_mode=bool(a.get("ceil_mode", 0)))
            else:
                y = F.avg_pool2d(i[0], a["kernel_shape"], a["strides"], (p[0], p[1]),
                                 ceil_mode=bool(a.get("ceil_mode", 0)),
                                 count_include_pad=bool(a.get("count_include_pad", 0)))
        elif op == "GlobalAveragePool":
            y = i[0].mean((2, 3), keepdim=True)
        elif op == "GlobalMaxPool":
            y = i[0].amax((2, 3), keepdim=True)
        elif op == "Flatten":
            y = i[0].flatten(a.get("axis", 1))
        elif op == "Reshape":
            y = i[0].reshape([i[0].shape[0] if d == 0 else int(d) for d in i[1].tolist()])
        elif op == "Gemm":
            check(a.get("transB", 0) == 1, "Gemm transB = 1")
            y = i[0] @ i[1].T + (i[2] if len(i) > 2 else 0)
        elif op == "Concat":
            y = torch.cat(i, a["axis"])
        elif op == "Sum":
            y = sum(i)
        else:
            raise RuntimeError(f"operator {op} not in the interpreter")
        env[n.output[0]] = y
    return env[model.graph.output[0].name].numpy()


with tempfile.TemporaryDirectory() as tmp:
    P = lambda name: os.path.join(tmp, name)
    with open(P("net.arch"), "w") as f:
        f.write(ARCH)
    rc, out, err = cli("init", "--arch", P("net.arch"), "--size", "32", "--classes", "3",
                       "--class-names", "a,b,c", "--trait", "age", "--seed", "5", "--out", P("m.safetensors"))
    if rc != 0:
        print(f"init failed: {err}", file=sys.stderr)
        sys.exit(1)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 32, 32)).astype(np.float32)
    ref = logits(P("m.safetensors"), x, tmp)

    rc, out, err = cli("convert", "--help")
    check(rc == 0 and "usage: traitscope-cli convert" in out, "convert --help")
    rc, out, err = cli("convert", P("m.safetensors"), P("m.txt"))
    check(rc == 2 and "m.txt" in err, "an unknown OUT extension is a usage error")

    # safetensors -> onnx
    rc, out, err = cli("convert", P("m.safetensors"), P("m.onnx"))
    check(rc == 0, f"convert to onnx ({err.strip()})")
    if rc == 0:
        j = json.loads(out)
        check(j["format"] == "onnx" and j["classes"] == ["a", "b", "c"] and j["files"] == [P("m.onnx")],
              f"convert JSON line: {out.strip()}")
    if onnx is None:
        print("note: python3-onnx missing: checker and interpreter not run")
    elif rc == 0:
        model = onnx.load(P("m.onnx"))
        try:
            onnx.checker.check_model(model, full_check=True)
            ok = True
        except Exception as e:  # the checker's own exception types vary by version
            print("checker:", e, file=sys.stderr)
            ok = False
        check(ok, "onnx.checker.check_model accepts our export")
        meta = {p.key: p.value for p in model.metadata_props}
        check(json.loads(meta.get("traitscope.classes", "[]")) == ["a", "b", "c"], "classes in metadata_props")
        with torch.no_grad():
            y = run_onnx(model, x)
        d = float(np.abs(y - ref).max())
        print(f"our ONNX export run by a torch interpreter: max |diff| = {d:.3g}")
        check(d <= 1e-4, f"ONNX graph evaluated by torch matches our logits (max diff {d:.3g})")

    # onnx -> safetensors, with new class names
    rc, out, err = cli("convert", "--classes", "x,y,z", P("m.onnx"), P("back.safetensors"))
    check(rc == 0, f"convert onnx -> safetensors ({err.strip()})")
    if rc == 0:
        got = logits(P("back.safetensors"), x, tmp)
        check(got is not None and float(np.abs(got - ref).max()) <= 1e-5, "onnx round trip logits")
        rc, out, err = cli("info", P("back.safetensors"))
        check(rc == 0 and json.loads(out)["classes"] == ["x", "y", "z"], "--classes renamed the outputs")

    # safetensors -> caffemodel (+ prototxt, binaryproto) -> safetensors
    rc, out, err = cli("convert", P("m.safetensors"), P("m.caffemodel"))
    check(rc == 0, f"convert to caffemodel ({err.strip()})")
    if rc == 0:
        j = json.loads(out)
        check(j["files"] == [P("m.caffemodel"), P("m.prototxt"), P("m.binaryproto")] and
              all(os.path.exists(f) for f in j["files"]), "caffe files written")
        with open(P("m.prototxt")) as f:
            proto = f.read()
        check('type: "Convolution"' in proto and 'type: "Eltwise"' in proto and "input_shape" in proto,
              "prototxt content")
        rc, out, err = cli("convert", P("m.caffemodel"), P("caffe.safetensors"))
        check(rc == 0, f"convert caffemodel -> safetensors ({err.strip()})")
        rc2, info_out, err2 = cli("info", P("caffe.safetensors"))
        _, ref_info, _ = cli("info", P("m.safetensors"))
        if rc == 0 and rc2 == 0:
            a, r = json.loads(info_out), json.loads(ref_info)
            check(a["classes"] == ["a", "b", "c"] and a["trait"] == "age", "metadata through the prototxt")
            check(a["training"].get("imported_from") == "caffe", "Caffe import recorded")
            m0, s0 = np.array(r["input_mean"])[:, None, None], np.array(r["input_std"])[:, None, None]
            m1, s1 = np.array(a["input_mean"])[:, None, None], np.array(a["input_std"])[:, None, None]
            xc = ((x * s0 + m0 - m1) / s1).astype(np.float32)  # the same pixels
            got = logits(P("caffe.safetensors"), xc, tmp)
            d = float(np.abs(got - ref).max()) if got is not None else 1e9
            print(f"caffe round trip through the CLI: max |diff| = {d:.3g}")
            check(d <= 1e-4, f"caffe round trip logits (max diff {d:.3g})")

    # damaged files are refused, naming them
    with open(P("m.onnx"), "rb") as f:
        data = f.read()
    with open(P("cut.onnx"), "wb") as f:
        f.write(data[: len(data) // 2])
    rc, out, err = cli("convert", P("cut.onnx"), P("cut.safetensors"))
    check(rc == 1 and "cut.onnx" in err and not os.path.exists(P("cut.safetensors")),
          f"truncated onnx refused ({err.strip()})")
    with open(P("junk.caffemodel"), "wb") as f:
        f.write(b"\x0a\xff\xff\xff\xff\x0f")
    rc, out, err = cli("convert", "--prototxt", P("m.prototxt"), P("junk.caffemodel"), P("j.onnx"))
    check(rc == 1 and "junk.caffemodel" in err, f"damaged caffemodel refused ({err.strip()})")

if failures:
    print(f"{failures} check(s) failed", file=sys.stderr)
    sys.exit(1)
print("ok")
