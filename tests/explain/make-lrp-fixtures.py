#!/usr/bin/python3
"""make-lrp-fixtures.py - plain NumPy reference for the LRP rules of
src/explain/lrp.c, written as lrp-fixtures.bin next to this script.

Run with Debian's python3 (needs python3-numpy):
    /usr/bin/python3 tests/explain/make-lrp-fixtures.py

The reference is deliberately naive: every convolution is turned into a
dense matrix M (outputs x inputs) plus a connectivity mask, and every rule
is evaluated from the explicit contributions z_ij = x_i M_ji in float64, so
it shares nothing with the im2col/SGEMM code it checks.

Networks (mirrored by hand in test-lrp.c):
  chain: input (3,12,12) -> conv1 4 k3 p1 -> relu1 -> pool1 max k3 s2 (Caffe
         ceil) -> conv2 6 k3 groups=2 -> relu2 -> pool2 avg k2 s2 -> fc3 5 ->
         relu3 -> drop3 -> fc4 3
  graph: input (2,6,6) -> ca 3 k3 p1 -> ra ; cb 3 k1 -> rb ; add(ra,rb) ->
         cc 2 k3 p1 -> rc ; concat(add, rc) -> fc 3

File format (little endian): repeated records
    char name[32] (NUL padded) | int32 ndim | int32 dims[4] | float32 data
"""
import os
import struct

import numpy as np

rng = np.random.default_rng(20240604)
LOW = np.array([-1.2, -0.9, -1.5])
HIGH = np.array([1.4, 1.1, 0.8])


def conv_dense(w, C, H, W, stride, pad, groups):
    O, Cg, KH, KW = w.shape
    OH = (H + 2 * pad - KH) // stride + 1
    OW = (W + 2 * pad - KW) // stride + 1
    M = np.zeros((O * OH * OW, C * H * W))
    A = np.zeros_like(M)
    Og = O // groups
    for o in range(O):
        gi = o // Og
        for oy in range(OH):
            for ox in range(OW):
                j = (o * OH + oy) * OW + ox
                for cl in range(Cg):
                    c = gi * Cg + cl
                    for ky in range(KH):
                        for kx in range(KW):
                            iy, ix = oy * stride - pad + ky, ox * stride - pad + kx
                            if 0 <= iy < H and 0 <= ix < W:
                                i = (c * H + iy) * W + ix
                                M[j, i] = w[o, cl, ky, kx]
                                A[j, i] = 1.0
    return M, A, (O, OH, OW)


def pool_out(n, k, s):  # Caffe ceil rounding, no padding
    return -(-(n - k) // s) + 1


def maxpool(x, k, s):
    C, H, W = x.shape
    OH, OW = pool_out(H, k, s), pool_out(W, k, s)
    y = np.zeros((C, OH, OW))
    arg = np.zeros((C, OH, OW), dtype=int)
    for c in range(C):
        for oy in range(OH):
            for ox in range(OW):
                win = x[c, oy * s:min(oy * s + k, H), ox * s:min(ox * s + k, W)]
                a = int(np.argmax(win))  # first maximum in row-major order
                wy, wx = divmod(a, win.shape[1])
                arg[c, oy, ox] = (oy * s + wy) * W + ox * s + wx
                y[c, oy, ox] = win.flat[a]
    return y, arg


def maxpool_lrp(R, arg, shape):
    Rin = np.zeros(shape)
    C = shape[0]
    for c in range(C):
        np.add.at(Rin[c].reshape(-1), arg[c].reshape(-1), R[c].reshape(-1))
    return Rin


def avgpool(x, k, s):
    C, H, W = x.shape
    OH, OW = pool_out(H, k, s), pool_out(W, k, s)
    y = np.zeros((C, OH, OW))
    for c in range(C):
        for oy in range(OH):
            for ox in range(OW):
                y[c, oy, ox] = x[c, oy * s:oy * s + k, ox * s:ox * s + k].sum() / (k * k)
    return y


def avgpool_lrp(R, x, k, s):
    Rin = np.zeros_like(x)
    C, OH, OW = R.shape
    for c in range(C):
        for oy in range(OH):
            for ox in range(OW):
                win = x[c, oy * s:oy * s + k, ox * s:ox * s + k]
                tot = win.sum()
                sl = (c, slice(oy * s, oy * s + k), slice(ox * s, ox * s + k))
                if abs(tot) < 1e-12:
                    Rin[sl] += R[c, oy, ox] / win.size
                else:
                    Rin[sl] += win / tot * R[c, oy, ox]
    return Rin


def safe_div(a, b):
    out = np.zeros_like(a)
    nz = b != 0
    out[nz] = a[nz] / b[nz]
    return out


def lrp_linear(rule, M, A, b, x, R, low=None, high=None):
    """R (outputs), x (inputs) flat; returns input relevance."""
    kind = rule[0]
    Z = M * x[None, :]  # z_ji, rows: outputs j
    if kind == 'eps':
        eps = rule[1]
        z = Z.sum(1) + b
        s = R / (z + eps * np.where(z >= 0, 1.0, -1.0))
        return (Z * s[:, None]).sum(0)
    if kind == 'ab':
        alpha, beta, with_bias = rule[1], rule[2], rule[3]
        zp, zn = np.maximum(Z, 0), np.minimum(Z, 0)
        dp, dn = zp.sum(1), zn.sum(1)
        if with_bias:
            dp = dp + np.maximum(b, 0)
            dn = dn + np.minimum(b, 0)
        return alpha * (zp * safe_div(R, dp)[:, None]).sum(0) - \
            beta * (zn * safe_div(R, dn)[:, None]).sum(0)
    if kind in ('flat', 'w2'):
        V = A if kind == 'flat' else M * M
        return (V * safe_div(R, V.sum(1))[:, None]).sum(0)
    if kind == 'zbox':
        Zb = Z - low[None, :] * np.maximum(M, 0) - high[None, :] * np.minimum(M, 0)
        return (Zb * safe_div(R, Zb.sum(1))[:, None]).sum(0)
    raise ValueError(kind)


records = []


def put(name, a):
    a = np.asarray(a, dtype=np.float32)
    dims = list(a.shape) + [1] * (4 - a.ndim)
    records.append(struct.pack('<32si4i', name.encode(), a.ndim, *dims) + a.tobytes())


# ---- chain network ----------------------------------------------------------
def chain():
    w1 = rng.normal(0, 0.4, (4, 3, 3, 3)); b1 = rng.normal(0, 0.1, 4)
    w2 = rng.normal(0, 0.3, (6, 2, 3, 3)); b2 = rng.normal(0, 0.1, 6)
    w3 = rng.normal(0, 0.3, (5, 24)); b3 = rng.normal(0, 0.1, 5)
    w4 = rng.normal(0, 0.5, (3, 5)); b4 = rng.normal(0, 0.1, 3)
    x = rng.uniform(LOW[:, None, None], HIGH[:, None, None], (3, 12, 12))
    for n, a in [('conv1.weight', w1), ('conv1.bias', b1), ('conv2.weight', w2),
                 ('conv2.bias', b2), ('fc3.weight', w3), ('fc3.bias', b3),
                 ('fc4.weight', w4), ('fc4.bias', b4), ('chain.input', x)]:
        put(n, a)
    M1, A1, s1 = conv_dense(w1, 3, 12, 12, 1, 1, 1)
    bb1 = np.repeat(b1, s1[1] * s1[2])
    z1 = M1 @ x.reshape(-1) + bb1
    a1 = np.maximum(z1, 0).reshape(s1)
    p1, arg1 = maxpool(a1, 3, 2)
    M2, A2, s2 = conv_dense(w2, 4, p1.shape[1], p1.shape[2], 1, 0, 2)
    bb2 = np.repeat(b2, s2[1] * s2[2])
    z2 = M2 @ p1.reshape(-1) + bb2
    a2 = np.maximum(z2, 0).reshape(s2)
    p2 = avgpool(a2, 2, 2)
    z3 = w3 @ p2.reshape(-1) + b3
    a3 = np.maximum(z3, 0)
    z4 = w4 @ a3 + b4
    put('chain.logits', z4)
    lo = np.repeat(LOW, 144); hi = np.repeat(HIGH, 144)

    def run(name, conv1, conv2, fc3, fc4, Rtop):
        R3 = lrp_linear(fc4, w4, np.ones_like(w4), b4, a3, Rtop)
        R2 = lrp_linear(fc3, w3, np.ones_like(w3), b3, p2.reshape(-1), R3).reshape(p2.shape)
        Ra2 = avgpool_lrp(R2, a2, 2, 2)
        Rp1 = lrp_linear(conv2, M2, A2, bb2, p1.reshape(-1), Ra2.reshape(-1)).reshape(p1.shape)
        Ra1 = maxpool_lrp(Rp1, arg1, a1.shape)
        R0 = lrp_linear(conv1, M1, A1, bb1, x.reshape(-1), Ra1.reshape(-1), lo, hi)
        put('chain.' + name, R0.reshape(x.shape))

    c = int(np.argmax(z4))
    top = np.zeros(3); top[c] = z4[c]
    eps, e0 = ('eps', 0.01), ('eps', 0.0)
    ab21, ab10, ab21b = ('ab', 2, 1, False), ('ab', 1, 0, False), ('ab', 2, 1, True)
    run('lrp0', e0, e0, e0, e0, top)
    run('epsilon', eps, eps, eps, eps, top)
    run('adience', ab21, ab21, eps, eps, top)
    run('ab10', ab10, ab10, eps, eps, top)
    run('ab21bias', ab21b, ab21b, eps, eps, top)
    run('flat', ('flat',), ab21, eps, eps, top)
    run('wsquare', ('w2',), ab21, eps, eps, top)
    run('zbox', ('zbox',), ab10, eps, eps, top)
    contrast = np.zeros(3); contrast[2] = z4[2]; contrast[0] -= z4[0]
    run('contrast', ab21, ab21, eps, eps, contrast)
    one = np.zeros(3); one[1] = z4[1]
    run('class1', ab21, ab21, eps, eps, one)


# ---- graph network (add, concat) --------------------------------------------
def graph():
    wa = rng.normal(0, 0.4, (3, 2, 3, 3)); ba = rng.normal(0, 0.1, 3)
    wb = rng.normal(0, 0.4, (3, 2, 1, 1)); bb = rng.normal(0, 0.1, 3)
    wc = rng.normal(0, 0.4, (2, 3, 3, 3)); bc = rng.normal(0, 0.1, 2)
    wf = rng.normal(0, 0.3, (3, 5 * 36)); bf = rng.normal(0, 0.1, 3)
    x = rng.uniform(-1, 1, (2, 6, 6))
    for n, a in [('ca.weight', wa), ('ca.bias', ba), ('cb.weight', wb), ('cb.bias', bb),
                 ('cc.weight', wc), ('cc.bias', bc), ('fc.weight', wf), ('fc.bias', bf),
                 ('graph.input', x)]:
        put(n, a)
    Ma, Aa, sa = conv_dense(wa, 2, 6, 6, 1, 1, 1)
    Mb, Ab, sb = conv_dense(wb, 2, 6, 6, 1, 0, 1)
    Mc, Ac, sc = conv_dense(wc, 3, 6, 6, 1, 1, 1)
    xa = np.maximum(Ma @ x.reshape(-1) + np.repeat(ba, 36), 0)
    xb = np.maximum(Mb @ x.reshape(-1) + np.repeat(bb, 36), 0)
    s = xa + xb
    xc = np.maximum(Mc @ s + np.repeat(bc, 36), 0)
    cat = np.concatenate([s, xc])
    z = wf @ cat + bf
    put('graph.logits', z)
    k = int(np.argmax(z))
    R = np.zeros(3); R[k] = z[k]
    eps, ab = ('eps', 0.01), ('ab', 2, 1, False)
    Rcat = lrp_linear(eps, wf, None, bf, cat, R)
    Rs, Rc = Rcat[:108].copy(), Rcat[108:]
    Rs += lrp_linear(ab, Mc, Ac, np.repeat(bc, 36), s, Rc)
    tot = xa + xb
    Ra = np.where(np.abs(tot) < 1e-12, Rs / 2, safe_div(xa, tot) * Rs)
    Rb = np.where(np.abs(tot) < 1e-12, Rs / 2, safe_div(xb, tot) * Rs)
    R0 = lrp_linear(ab, Ma, Aa, np.repeat(ba, 36), x.reshape(-1), Ra) + \
        lrp_linear(ab, Mb, Ab, np.repeat(bb, 36), x.reshape(-1), Rb)
    put('graph.adience', R0.reshape(x.shape))


chain()
graph()
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'lrp-fixtures.bin')
with open(out + '.tmp', 'wb') as f:
    f.write(b''.join(records))
os.replace(out + '.tmp', out)
print('wrote', out, sum(len(r) for r in records), 'bytes')
