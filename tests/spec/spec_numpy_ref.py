"""A tiny numpy forward pass for the MVU/threshold/requant/pool ops (tests only).

Used to check that inferred ranges hold for real data and that seeded
parameters give useful (unsaturated) activations. The real golden model is
``sw_reference``; this only follows docs/design/operators.md for the ops it covers.
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def random_input(spec, n, rng):
    """``n`` random samples; the first two are all-lowest and all-highest."""
    t = spec.input
    if t.binary:
        x = rng.integers(0, 2, size=(n, *t.shape)) * 2 - 1
    else:
        x = rng.integers(t.lo, t.hi + 1, size=(n, *t.shape))
    x[0], x[1] = t.lo, t.hi
    return x


def _per_channel(v, t, ndim):
    """Broadcast a per-channel vector [C] (or [1]) against a batched tensor of type t."""
    v = np.asarray(v, dtype=np.int64)
    if len(t.shape) == 3:
        return v.reshape((1, -1, 1, 1))
    return v.reshape((1,) * (ndim - 1) + (-1,))


def requant(x, m, s, zp, t_in, lo, hi):
    m, s, zp = (_per_channel(v, t_in, x.ndim) for v in (m, s, zp))
    rnd = np.where(s > 0, np.left_shift(1, np.maximum(s - 1, 0)), 0)
    return np.clip(((x * m + rnd) >> s) + zp, lo, hi)


def threshold(x, T, t_in, bits):
    if len(t_in.shape) == 3:
        xs = np.moveaxis(x, 1, -1)[..., None]
    else:
        xs = x[..., None]
    T = T if T.shape[0] > 1 else np.repeat(T, xs.shape[-2], axis=0)
    y = (xs >= T).sum(axis=-1)
    if len(t_in.shape) == 3:
        y = np.moveaxis(y, -1, 1)
    return y * 2 - 1 if bits == 1 else y


def conv(x, w, stride, pad, pad_value):
    x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=pad_value)
    win = sliding_window_view(x, w.shape[-2:], axis=(2, 3))[:, :, ::stride, ::stride]
    return np.einsum("nchwij,mcij->nmhw", win, w)


def exp_shift(d, x0, n):
    t = d + (d >> 1) - (d >> 4)
    t = np.maximum(t, n * x0)
    q = t // x0
    r = t - x0 * q
    return ((r >> 1) - x0) << (n - q)


def shiftmax(x, x0, out_bits, heads):
    g = x.reshape(*x.shape[:-1], heads, -1)
    e = exp_shift(g - g.max(axis=-1, keepdims=True), x0, 15)
    s = np.minimum(e.sum(axis=-1, keepdims=True), 2 ** 31 - 1)
    return ((e * ((2 ** 31 - 1) // s)) >> (32 - out_bits)).reshape(x.shape)


def shiftgelu(p, x0):
    m = p.max(axis=-1, keepdims=True)
    e = exp_shift(p - m, x0, 23)
    em = exp_shift(-m, x0, 23)
    sig = (e * ((2 ** 31 - 1) // np.minimum(e + em, 2 ** 31 - 1))) >> 24
    assert sig.min() >= 0 and sig.max() <= 127
    return p * sig


def isqrt(v):
    return np.array([__import__("math").isqrt(int(a)) for a in v.ravel()], dtype=np.int64).reshape(v.shape)


def layernorm(x, bias, sqrt):
    c = x.shape[-1]
    mean = (x.sum(axis=-1, keepdims=True) + c // 2) // c
    y = x - mean
    var = (y * y).sum(axis=-1, keepdims=True)
    if sqrt == "exact":
        k = np.maximum(isqrt(var), 1)
    else:
        k = np.full_like(var, 2 ** 16)
        for _ in range(10):
            k = (k + var // k) >> 1
    return ((y * ((2 ** 31 - 1) // k)) >> 1) + bias


def matmul(a, b, heads, transpose_b):
    m = a.shape[-2]
    ah = a.reshape(*a.shape[:-1], heads, -1).swapaxes(-2, -3)      # [N, H, M, Ka]
    bh = b.reshape(*b.shape[:-1], heads, -1).swapaxes(-2, -3)      # [N, H, R, Kb]
    out = ah @ (bh.swapaxes(-1, -2) if transpose_b else bh)         # [N, H, M, *]
    return out.swapaxes(-2, -3).reshape(a.shape[0], m, -1)


def run_op(layer, xs):
    a = layer.attrs
    p = layer.params
    t = layer.in_types[0]
    x = xs[0]
    op = layer.op
    if op in ("dense", "binary_dense"):
        y = x @ p["weight"].T
    elif op in ("conv2d", "binary_conv2d"):
        y = conv(x, p["weight"], a.stride, a.padding, -1 if t.binary else 0)
    elif op == "threshold":
        return threshold(x, p["thresholds"], t, a.bits)
    elif op == "requant":
        o = layer.op_type
        return requant(x, p["multiplier"], p["shift"], p["zero_point"], t, o.lo, o.hi)
    elif op == "maxpool2d":
        k = a.kernel_size
        n, c, h, w = x.shape
        return x.reshape(n, c, h // k, k, w // k, k).max(axis=(3, 5))
    elif op == "flatten":
        return x.reshape(x.shape[0], -1)
    elif op == "argmax":
        return x.argmax(axis=-1)
    elif op == "matmul":
        return matmul(xs[0], xs[1], a.heads, a.transpose_b)
    elif op == "shiftmax":
        return shiftmax(x, a.x0, a.out_bits, a.heads)
    elif op == "shiftgelu":
        return shiftgelu(x, a.x0)
    elif op == "layernorm":
        return layernorm(x, p["bias"] if "bias" in p else 0, a.sqrt)
    elif op == "add":
        o = layer.op_type
        rnd = [(1 << (int(s) - 1)) if s > 0 else 0 for s in p["shift"]]
        y = sum(((v * int(m) + r) >> int(s)) for v, m, s, r in zip(xs, p["multiplier"], p["shift"], rnd))
        return np.clip(y + p["zero_point"][0], o.lo, o.hi)
    else:
        raise NotImplementedError(op)
    if "bias" in p:
        y = y + _per_channel(p["bias"], layer.op_type, y.ndim)
    return y


def forward(spec, x):
    """Yield (layer, op output, layer output) for every layer."""
    values = {"input": x}
    for layer in spec.layers:
        y = run_op(layer, [values[n] for n in layer.inputs])
        out = y
        if layer.activation is not None:
            out = run_op(layer.activation, [y])
        values[layer.name] = out
        yield layer, y, out
