"""``matmul``: activation x activation product per head, ``inputs: [a, b]`` (attention QK^T, AV).

``a`` is [M, H*Ka], ``b`` [R, H*Kb]; head ``h`` is ``a_h @ b_h.T`` with
``transpose_b`` (Ka == Kb), else ``a_h @ b_h`` (Ka == R). ``pe`` divides the
output columns per head, ``simd`` the contraction length per head.
"""

import math

from . import _random as rw
from ._field import Field, list_divisors
from ._op import FoldDims, Op
from ._tensor import TensorType

__all__ = ["OP"]


def _heads(attrs, a, b):
    """(output columns per head, contraction length per head, output shape)."""
    heads = attrs.heads
    m, ka = a.shape[0], a.shape[1] // heads
    r, kb = b.shape[0], b.shape[1] // heads
    if attrs.transpose_b:
        return r, ka, (m, heads * r)
    return kb, r, (m, heads * kb)


def infer(ctx, raw, in_types, in_moments):
    a, b = in_types
    heads = raw.attrs.heads
    for j, t in enumerate((a, b)):
        if len(t.shape) != 2:
            raise ctx.shape_error(raw, f"matmul needs 2-D inputs [rows, H*cols], but input "
                                  f"{j} ({ctx.producer(raw, j)}) is {t.describe()}")
    for j, t in enumerate((a, b)):           # both 2-D: the hint names their common divisors
        if t.shape[1] % heads:
            raise ctx.shape_error(raw, f"heads ({heads}) must divide the last axis of input {j} "
                                  f"({ctx.producer(raw, j)} is {t.describe()})",
                                  "valid heads: " + list_divisors(math.gcd(a.shape[1], b.shape[1])),
                                  key="heads")
    ka, r, kb = a.shape[1] // heads, b.shape[0], b.shape[1] // heads
    if raw.attrs.transpose_b:
        if ka != kb:
            raise ctx.shape_error(raw, f"matmul a @ b.T per head needs equal head widths "
                                  f"(Ka = {ka}, Kb = {kb}): a = {ctx.producer(raw, 0)} "
                                  f"{a.describe()} ({heads} heads of {ka}), b = "
                                  f"{ctx.producer(raw, 1)} {b.describe()} ({heads} heads of {kb})")
    elif ka != r:
        raise ctx.shape_error(raw, f"matmul a @ b per head needs a's head width to equal b's "
                              f"rows (Ka = {ka}, R = {r}): a = {ctx.producer(raw, 0)} "
                              f"{a.describe()} ({heads} heads of {ka}), b = "
                              f"{ctx.producer(raw, 1)} {b.describe()} ({r} rows)",
                              "set transpose_b: true for a @ b.T (attention scores)"
                              if ka == kb else None)
    _, length, shape = _heads(raw.attrs, a, b)
    products = [a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi]
    out = TensorType.of_range(shape, length * min(products), length * max(products))
    ma, mb = in_moments[0].overall(), in_moments[1].overall()
    va, vb = ma.std ** 2, mb.std ** 2
    mean = length * ma.mean * mb.mean
    var = length * max((va + ma.mean ** 2) * (vb + mb.mean ** 2) - (ma.mean * mb.mean) ** 2, 0.0)
    return out, {}, rw.Moments(mean, math.sqrt(var))


def fold(attrs, in_types):
    """``pe`` divides the output columns per head, ``simd`` the contraction length per head."""
    cols, length, _ = _heads(attrs, *in_types)
    return FoldDims(("the output columns per head", cols),
                    ("the contraction length per head", length))


def hardware(layer, source, in_shape, units, flattened_from=None):
    """:class:`~hwgen.units.matmul.MatMul`, ``a`` <- input 0, ``b`` <- input 1."""
    a, b = layer.in_types
    if a.binary or b.binary:
        raise NotImplementedError(
            f"layer {layer.name!r}: matmul on binary (-1/+1) operands has no hardware yet "
            f"(issue #6 covers integer attention); threshold them to 2+ bits first")
    attrs = layer.attrs
    return units.MatMul(a_shape=in_shape, b_shape=units.element_shape(b), a_range=(a.lo, a.hi),
                        b_range=(b.lo, b.hi), rows_a=a.shape[0], rows_b=b.shape[0],
                        heads=attrs.heads, ka=a.shape[1] // attrs.heads,
                        kb=b.shape[1] // attrs.heads, transpose_b=attrs.transpose_b,
                        pe=layer.pe, simd=layer.simd, pipeline=attrs.pipeline,
                        resource=attrs.resource, out_shape=units.element_shape(layer.op_type))


OP = Op(
    name="matmul",
    doc="activation x activation product per head (attention QK^T and AV)",
    fields=(
        Field("transpose_b", "bool", default=False, doc="a @ b.T per head (attention QK^T)"),
        Field("heads", "int", default=1, lo=1, doc="heads H: a is [M, H*Ka], b [R, H*Kb]"),
        # 4 tree stages: one adder level per stage for ivit_block's 32 shift-add terms per PE;
        # with 2 its first segment (two carry chains, mostly routing) held it under 200 MHz
        # on an LFE5U-85F-8 (docs/results/ivit.md)
        Field("pipeline", "int", default=4, lo=0, hi=8,
              doc="register stages inside the product adder tree (0: combinational)"),
        Field("resource", "choice", default="lut", choices=("lut", "dsp"),
              doc="products as 'lut' shift-add logic or 'dsp' registered multipliers"),
    ),
    inputs=2,
    infer=infer,
    fold=fold,
    golden="MatMul",
    golden_args=lambda layer: {"transpose_b": layer.attrs.transpose_b,
                               "heads": layer.attrs.heads},
    hardware=hardware,
    cycles=lambda layer, units: units[0].cycles_per_sample,
    accumulator=True,
)
