"""``add``: residual add of ``inputs: [a, b]``, each dyadic-rescaled to a common scale.

``y = clamp(round(a * m0 / 2**s0) + round(b * m1 / 2**s1) + zp, lo, hi)``
with ``<layer>.multiplier`` [2], ``<layer>.shift`` [2] and an optional
``<layer>.zero_point`` [1]; ``lo``/``hi`` the range of ``bits`` (``signed``).
"""

import math

import numpy as np

from . import _random as rw
from ._dyadic import ROUNDING, check_dyadic
from ._field import Field
from ._op import FoldDims, Op
from ._tensor import TensorType

__all__ = ["OP"]


def infer(ctx, raw, in_types, in_moments):
    a, b = in_types
    if a.shape != b.shape:
        raise ctx.shape_error(raw, f"add inputs have different shapes: {ctx.producer(raw, 0)} "
                              f"is {a.describe()} and {ctx.producer(raw, 1)} is {b.describe()}",
                              "both inputs of a residual add must have the same shape")
    ctx.need_rank(raw, a, (1, 2, 3), "tensors (not scalars)")
    out = TensorType.of_bits(a.shape, raw.attrs.bits, raw.attrs.signed)
    src = ctx.params
    if src.generated:
        rng = rw.rng_for(src.seed, raw.name)
        m, s, zp = rw.add(rng, in_moments[0], in_moments[1], out.lo, out.hi, out.signed,
                          xmax=max(max(abs(t.lo), abs(t.hi)) for t in in_types))
    else:
        m = src.get(raw, "multiplier", (2,), "[2] (one per input)")
        s = src.get(raw, "shift", (2,), "[2] (one per input)")
        zp = src.get(raw, "zero_point", (1,), "[1]", required=False)
        if zp is None:
            zp = np.zeros(1, dtype=np.int64)
    check_dyadic(ctx, raw, m, s, zp, out, [a, b])
    mean = sum(float(mo.overall().mean) * mm / 2.0 ** ss for mo, mm, ss in zip(in_moments, m, s))
    var = sum((float(mo.overall().std) * mm / 2.0 ** ss) ** 2 for mo, mm, ss in zip(in_moments, m, s))
    out_m = rw.Moments(float(np.clip(mean + zp[0], out.lo, out.hi)),
                       min(math.sqrt(var), (out.hi - out.lo) / 2))
    return out, {"multiplier": m, "shift": s, "zero_point": zp}, out_m


def hardware(layer, source, in_shape, units, flattened_from=None):
    """An :class:`~hwgen.units.add.AddStreams` joining ``a`` (``inputs[0]``) and ``b``."""
    a, b = layer.in_types
    if a.binary or b.binary:
        raise NotImplementedError(
            f"layer {layer.name!r}: add of binary (-1/+1) inputs ({a.describe()}, {b.describe()}) "
            f"has no hardware yet (issue #6 covers integer inputs); add a requant or threshold "
            f"with bits >= 2 before it")
    params = layer.params
    return units.AddStreams(a_shape=units.element_shape(a), b_shape=units.element_shape(b),
                            out_shape=units.element_shape(layer.op_type), pe=layer.pe,
                            multiplier=params["multiplier"].tolist(),
                            shift=params["shift"].tolist(),
                            zero_point=int(params["zero_point"].reshape(-1)[0]),
                            rounding=layer.attrs.rounding)


OP = Op(
    name="add",
    doc="residual add of two inputs rescaled to a common scale",
    fields=(
        Field("bits", "int", required=True, lo=2, hi=32, doc="output bits"),
        Field("signed", "bool", default=True, doc="signed output"),
        ROUNDING,
    ),
    inputs=2,
    infer=infer,
    fold=lambda attrs, in_types: FoldDims(("the channels", in_types[0].channels)),
    golden="Add",
    golden_args=lambda layer: {"multiplier": layer.params["multiplier"],
                               "shift": layer.params["shift"],
                               "zero_point": layer.params["zero_point"],
                               # its own output's range: out_type is after an inline activation
                               "lo": layer.op_type.lo, "hi": layer.op_type.hi,
                               "rounding": layer.attrs.rounding},
    hardware=hardware,
    cycles=lambda layer, units: layer.in_types[0].size // layer.pe,
    has_params=lambda attrs: True,
    accumulator=True,
)
