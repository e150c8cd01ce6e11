#!/usr/bin/python3
"""test-caffe-protobuf.py - a Caffe model written by another tool, imported.

usage: test-caffe-protobuf.py CONVERT_RUN   (meson passes tests/convert/convert-run)

Every other Caffe file in the tests is written by our own exporter, so a
shared misreading of caffe.proto would pass them.  Caffe itself cannot be
had here (Debian 12 has no caffe-cpu or python3-caffe: "Unable to locate
package"), so this test writes the files with Google's protobuf library
(python3-protobuf), the serializer Caffe uses, from the message schema of
BVLC's caffe.proto (its message and field numbers, declared below as a
descriptor: the subset a deploy net needs), with weights from a torch.nn
network:
  - NAME.caffemodel: a NetParameter with `layer` entries (type strings,
    an Input layer, in-place ReLUs, blobs with BlobShape) as Caffe saves a
    deploy net: binary wire format by protobuf's SerializeToString;
  - NAME.prototxt: the same layers without blobs, by protobuf's text_format;
  - v1.caffemodel: the same net in the legacy V1 `layers` form (type enums,
    blobs with num/channels/height/width, input/input_dim in the net), as
    Levi & Hassner's published age and gender nets are stored.
The net: conv 5x5 stride 2 pad 2 + ReLU, LRN across 5 channels, 3x3/2 max
pooling (Caffe's ceil rounding), a grouped 3x3 conv + ReLU, 2x2/2 average
pooling, InnerProduct + ReLU, Dropout, InnerProduct, Softmax (dropped on
import: logits).  Our import of each must give the logits torch computes
for the same weights within 1e-4, with Caffe's BGR input: our RGB channel c
is the Caffe net's channel 2 - c (caffe.h).
Skips (77) without torch or python3-protobuf.
"""
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
    from google.protobuf import descriptor_pb2, descriptor_pool, text_format
    try:
        from google.protobuf.message_factory import GetMessageClass
    except ImportError:  # protobuf < 4.22
        from google.protobuf import message_factory

        def GetMessageClass(d):
            return message_factory.MessageFactory().GetPrototype(d)
except ImportError as e:
    print(f"skip: needs python3-torch, python3-numpy and python3-protobuf ({e})")
    sys.exit(77)

RUN = sys.argv[1]
failures = 0
torch.manual_seed(0)


def check(cond, what):
    global failures
    if not cond:
        print("FAILED:", what, file=sys.stderr)
        failures += 1
    else:
        print("ok:", what)


# ---- the schema: caffe.proto's messages and field numbers (proto2) ----------
OPT, REP = descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL, descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED
T = descriptor_pb2.FieldDescriptorProto
KIND = {"int32": T.TYPE_INT32, "uint32": T.TYPE_UINT32, "int64": T.TYPE_INT64, "float": T.TYPE_FLOAT,
        "double": T.TYPE_DOUBLE, "bool": T.TYPE_BOOL, "string": T.TYPE_STRING}
SCHEMA = {
    # message: [(field, number, label, type, packed)]; type: a scalar or ".caffe.Message" / "enum:.caffe.E"
    "BlobShape": [("dim", 1, REP, "int64", True)],
    "BlobProto": [("shape", 7, OPT, ".caffe.BlobShape", False), ("data", 5, REP, "float", True),
                  ("num", 1, OPT, "int32", False), ("channels", 2, OPT, "int32", False),
                  ("height", 3, OPT, "int32", False), ("width", 4, OPT, "int32", False)],
    "ConvolutionParameter": [("num_output", 1, OPT, "uint32", False), ("bias_term", 2, OPT, "bool", False),
                             ("pad", 3, REP, "uint32", False), ("kernel_size", 4, REP, "uint32", False),
                             ("group", 5, OPT, "uint32", False), ("stride", 6, REP, "uint32", False)],
    "PoolingParameter": [("pool", 1, OPT, "enum:.caffe.PoolingParameter.PoolMethod", False),
                         ("kernel_size", 2, OPT, "uint32", False), ("stride", 3, OPT, "uint32", False),
                         ("pad", 4, OPT, "uint32", False)],
    "InnerProductParameter": [("num_output", 1, OPT, "uint32", False), ("bias_term", 2, OPT, "bool", False)],
    "LRNParameter": [("local_size", 1, OPT, "uint32", False), ("alpha", 2, OPT, "float", False),
                     ("beta", 3, OPT, "float", False), ("k", 5, OPT, "float", False)],
    "DropoutParameter": [("dropout_ratio", 1, OPT, "float", False)],
    "InputParameter": [("shape", 1, REP, ".caffe.BlobShape", False)],
    "LayerParameter": [("name", 1, OPT, "string", False), ("type", 2, OPT, "string", False),
                       ("bottom", 3, REP, "string", False), ("top", 4, REP, "string", False),
                       ("blobs", 7, REP, ".caffe.BlobProto", False),
                       ("convolution_param", 106, OPT, ".caffe.ConvolutionParameter", False),
                       ("dropout_param", 108, OPT, ".caffe.DropoutParameter", False),
                       ("inner_product_param", 117, OPT, ".caffe.InnerProductParameter", False),
                       ("lrn_param", 118, OPT, ".caffe.LRNParameter", False),
                       ("pooling_param", 121, OPT, ".caffe.PoolingParameter", False),
                       ("input_param", 143, OPT, ".caffe.InputParameter", False)],
    "V1LayerParameter": [("bottom", 2, REP, "string", False), ("top", 3, REP, "string", False),
                         ("name", 4, OPT, "string", False),
                         ("type", 5, OPT, "enum:.caffe.V1LayerParameter.LayerType", False),
                         ("blobs", 6, REP, ".caffe.BlobProto", False),
                         ("convolution_param", 10, OPT, ".caffe.ConvolutionParameter", False),
                         ("dropout_param", 12, OPT, ".caffe.DropoutParameter", False),
                         ("inner_product_param", 17, OPT, ".caffe.InnerProductParameter", False),
                         ("lrn_param", 18, OPT, ".caffe.LRNParameter", False),
                         ("pooling_param", 19, OPT, ".caffe.PoolingParameter", False)],
    "NetParameter": [("name", 1, OPT, "string", False), ("layers", 2, REP, ".caffe.V1LayerParameter", False),
                     ("input", 3, REP, "string", False), ("input_dim", 4, REP, "int32", False),
                     ("layer", 100, REP, ".caffe.LayerParameter", False)],
}
ENUMS = {
    "PoolingParameter": ("PoolMethod", [("MAX", 0), ("AVE", 1), ("STOCHASTIC", 2)]),
    "V1LayerParameter": ("LayerType", [("NONE", 0), ("CONVOLUTION", 4), ("DROPOUT", 6), ("INNER_PRODUCT", 14),
                                       ("LRN", 15), ("POOLING", 17), ("RELU", 18), ("SOFTMAX", 20)]),
}


def build_schema():
    fd = descriptor_pb2.FileDescriptorProto(name="caffe-subset.proto", package="caffe", syntax="proto2")
    for mname, fields in SCHEMA.items():
        m = fd.message_type.add(name=mname)
        if mname in ENUMS:
            ename, values = ENUMS[mname]
            e = m.enum_type.add(name=ename)
            for vname, num in values:
                e.value.add(name=vname, number=num)
        for fname, num, label, kind, packed in fields:
            f = m.field.add(name=fname, number=num, label=label)
            if kind.startswith("enum:"):
                f.type, f.type_name = T.TYPE_ENUM, kind[5:]
            elif kind.startswith("."):
                f.type, f.type_name = T.TYPE_MESSAGE, kind
            else:
                f.type = KIND[kind]
            if packed:
                f.options.packed = True
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    return {name: GetMessageClass(pool.FindMessageTypeByName("caffe." + name)) for name in SCHEMA}


C = build_schema()

# ---- the network in torch ----------------------------------------------------
S = 32
w1, b1 = torch.randn(8, 3, 5, 5) * 0.2, torch.randn(8) * 0.1
w2, b2 = torch.randn(12, 4, 3, 3) * 0.2, torch.randn(12) * 0.1
w3, b3 = torch.randn(16, 12 * 4 * 4) * 0.1, torch.randn(16) * 0.1
w4, b4 = torch.randn(2, 16) * 0.3, torch.randn(2) * 0.1


def reference(z):
    """The Caffe net's logits for its input z (N,3,S,S), Caffe channel order."""
    y = F.relu(F.conv2d(z, w1, b1, stride=2, padding=2))               # 16x16
    y = F.local_response_norm(y, 5, alpha=1e-4 * 50, beta=0.75, k=1.0)  # Caffe's LRN: alpha/n * sum
    y = F.max_pool2d(y, 3, 2, ceil_mode=True)                            # 8x8 (Caffe rounds up)
    y = F.relu(F.conv2d(y, w2, b2, padding=1, groups=2))
    y = F.avg_pool2d(y, 2, 2)                                            # 4x4
    y = F.relu(F.linear(y.flatten(1), w3, b3))
    return F.linear(y, w4, b4)                                           # dropout: identity


def blob(t, v1):
    b = C["BlobProto"]()
    a = t.detach().numpy().astype(np.float32)
    if v1:  # legacy num, channels, height, width: conv (O,C,KH,KW), fc (1,1,O,K), bias (1,1,1,O)
        dims = list(a.shape) if a.ndim == 4 else [1, 1] + list(a.shape) if a.ndim == 2 else [1, 1, 1, a.shape[0]]
        b.num, b.channels, b.height, b.width = dims
    else:
        b.shape.dim.extend(a.shape)
    b.data.extend(a.ravel().tolist())
    return b


def net(with_blobs):
    """NetParameter with `layer` entries, as a deploy net is saved."""
    n = C["NetParameter"](name="protobuf-written")
    L = n.layer.add(name="data", type="Input", top=["data"])
    L.input_param.shape.add(dim=[1, 3, S, S])

    def add(name, typ, bottom, top=None, blobs=()):
        L = n.layer.add(name=name, type=typ, bottom=[bottom], top=[top or name])
        if with_blobs:
            L.blobs.extend(blob(t, False) for t in blobs)
        return L

    L = add("conv1", "Convolution", "data", blobs=(w1, b1))
    L.convolution_param.num_output, L.convolution_param.bias_term = 8, True
    L.convolution_param.kernel_size.append(5)
    L.convolution_param.stride.append(2)
    L.convolution_param.pad.append(2)
    add("relu1", "ReLU", "conv1", "conv1")  # in place
    L = add("norm1", "LRN", "conv1")
    L.lrn_param.local_size, L.lrn_param.alpha, L.lrn_param.beta = 5, 1e-4 * 50, 0.75
    L = add("pool1", "Pooling", "norm1")
    L.pooling_param.pool, L.pooling_param.kernel_size, L.pooling_param.stride = 0, 3, 2
    L = add("conv2", "Convolution", "pool1", blobs=(w2, b2))
    L.convolution_param.num_output, L.convolution_param.group = 12, 2
    L.convolution_param.kernel_size.append(3)
    L.convolution_param.pad.append(1)
    add("relu2", "ReLU", "conv2", "conv2")
    L = add("pool2", "Pooling", "conv2")
    L.pooling_param.pool, L.pooling_param.kernel_size, L.pooling_param.stride = 1, 2, 2
    L = add("fc3", "InnerProduct", "pool2", blobs=(w3, b3))
    L.inner_product_param.num_output = 16
    add("relu3", "ReLU", "fc3", "fc3")
    L = add("drop3", "Dropout", "fc3", "fc3")
    L.dropout_param.dropout_ratio = 0.5
    L = add("fc4", "InnerProduct", "fc3", blobs=(w4, b4))
    L.inner_product_param.num_output = 2
    add("prob", "Softmax", "fc4")
    return n


def net_v1():
    """The same net in the legacy form (V1LayerParameter, input/input_dim)."""
    n = C["NetParameter"](name="protobuf-written-v1", input=["data"], input_dim=[1, 3, S, S])
    E = {"conv": 4, "drop": 6, "ip": 14, "lrn": 15, "pool": 17, "relu": 18, "softmax": 20}

    def add(name, typ, bottom, top=None, blobs=()):
        L = n.layers.add(name=name, type=E[typ], bottom=[bottom], top=[top or name])
        L.blobs.extend(blob(t, True) for t in blobs)
        return L

    L = add("conv1", "conv", "data", blobs=(w1, b1))
    L.convolution_param.num_output = 8
    L.convolution_param.kernel_size.append(5)
    L.convolution_param.stride.append(2)
    L.convolution_param.pad.append(2)
    add("relu1", "relu", "conv1", "conv1")
    L = add("norm1", "lrn", "conv1")
    L.lrn_param.local_size, L.lrn_param.alpha, L.lrn_param.beta = 5, 1e-4 * 50, 0.75
    L = add("pool1", "pool", "norm1")
    L.pooling_param.pool, L.pooling_param.kernel_size, L.pooling_param.stride = 0, 3, 2
    L = add("conv2", "conv", "pool1", blobs=(w2, b2))
    L.convolution_param.num_output, L.convolution_param.group = 12, 2
    L.convolution_param.kernel_size.append(3)
    L.convolution_param.pad.append(1)
    add("relu2", "relu", "conv2", "conv2")
    L = add("pool2", "pool", "conv2")
    L.pooling_param.pool, L.pooling_param.kernel_size, L.pooling_param.stride = 1, 2, 2
    L = add("fc3", "ip", "pool2", blobs=(w3, b3))
    L.inner_product_param.num_output = 16
    add("relu3", "relu", "fc3", "fc3")
    add("drop3", "drop", "fc3", "fc3").dropout_param.dropout_ratio = 0.5
    L = add("fc4", "ip", "fc3", blobs=(w4, b4))
    L.inner_product_param.num_output = 2
    add("prob", "softmax", "fc4")
    return n


def ours(model_path, x, tmp):
    inp, out = os.path.join(tmp, "in.f32"), os.path.join(tmp, "out.f32")
    x.numpy().astype("<f4").tofile(inp)
    p = subprocess.run([RUN, model_path, inp, out], capture_output=True, text=True)
    if p.returncode != 0:
        return None, p.stderr
    return np.fromfile(out, dtype="<f4").reshape(x.shape[0], -1), p.stderr


x = torch.randn(3, 3, S, S)  # our input: RGB
want = reference(x.flip(1)).detach().numpy()  # the Caffe net sees BGR
with tempfile.TemporaryDirectory() as tmp:
    cases = []
    # weights and layers in the caffemodel alone
    alone = os.path.join(tmp, "alone", "net.caffemodel")
    os.makedirs(os.path.dirname(alone))
    with open(alone, "wb") as f:
        f.write(net(True).SerializeToString())
    cases.append(("caffemodel (layers and blobs, binary)", alone))
    # the deploy description as text beside the weights
    pair = os.path.join(tmp, "pair", "net.caffemodel")
    os.makedirs(os.path.dirname(pair))
    with open(pair, "wb") as f:
        f.write(net(True).SerializeToString())
    with open(os.path.join(tmp, "pair", "net.prototxt"), "w") as f:
        f.write(text_format.MessageToString(net(False)))
    cases.append(("prototxt (text_format) + caffemodel", pair))
    # the legacy V1 form
    v1 = os.path.join(tmp, "v1", "v1.caffemodel")
    os.makedirs(os.path.dirname(v1))
    with open(v1, "wb") as f:
        f.write(net_v1().SerializeToString())
    cases.append(("V1 layers caffemodel", v1))
    for what, path in cases:
        got, err = ours(path, x, tmp)
        check(got is not None, f"{what}: imported ({err.strip()[:300]})")
        if got is not None:
            d = float(np.abs(got - want).max())
            print(f"{what}: max |ours - torch| = {d:.3g} over {want.size} logits")
            check(got.shape == want.shape and d <= 1e-4, f"{what}: the logits torch computes (max diff {d:.3g})")

sys.exit(1 if failures else 0)
