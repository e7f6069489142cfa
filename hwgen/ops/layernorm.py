"""``layernorm``: I-ViT/I-BERT integer LayerNorm over the last axis.

Integer mean and variance, then an integer square root (``sqrt: exact``
digit by digit, or ``ivit``: 10 Newton steps from 2**16), exactly
:func:`sw_reference.ivit.layernorm`; optional int32 ``<layer>.bias`` [C].
Its output is int32-wide: a per-channel requant narrows it.
"""

import math

import numpy as np

from . import _random as rw
from ._field import Field
from ._op import Op, integer_input
from ._rows import element_rate, need_rows, row_fold
from ._tensor import TensorType

__all__ = ["OP"]


def infer(ctx, raw, in_types, in_moments):
    t, = in_types
    need_rows(ctx, raw, t, "an input [C] or rows [T, C] (normalised over the last axis)")
    c = t.shape[-1]
    if c * (t.hi - t.lo) ** 2 >= 1 << 62:
        raise ctx.shape_error(raw, f"{ctx.who(raw)}: the variance sum over {c} channels of "
                              f"{ctx.its_input(raw)} ({t.describe()}) overflows int64",
                              "requantize the input to 16 bits first (I-ViT uses int16)")
    params = {}
    if raw.attrs.bias:
        src = ctx.params
        if src.generated:
            params["bias"] = rw.layernorm_bias(rw.rng_for(src.seed, raw.name), c)
        else:
            params["bias"] = src.get(raw, "bias", (c,), "[C]")
        ctx.check_int32(raw, "bias", params["bias"])
    # |y_i| <= isqrt(var) since y_i**2 <= var = sum(y**2). "exact": k = max(isqrt(var), 1).
    # "ivit": every floor-Newton step k' = (k + var // k) >> 1 = floor((k + var/k) / 2) is
    # >= floor(sqrt(var)) (AM-GM), so after the 10 steps k >= isqrt(var) too (and k >= 64).
    # Either way |y| <= k, |y * (Q31 // k)| <= Q31, and >> 1 gives [-2**30, 2**30 - 1].
    bias = params.get("bias", np.zeros(1, dtype=np.int64))
    out = TensorType.of_range(t.shape, -(1 << 30) + int(bias.min()), (1 << 30) - 1 + int(bias.max()))
    bias_mean = float(np.mean(params["bias"])) if "bias" in params else 0.0
    return out, params, rw.Moments(bias_mean, float(1 << 30) / math.sqrt(c))


def hardware(layer, source, in_shape, units, flattened_from=None):
    integer_input(layer, source)
    bias = layer.params["bias"].tolist() if layer.attrs.bias else None
    return units.LayerNorm(in_shape=in_shape, channels=source.shape[-1], simd=layer.pe,
                           sqrt=layer.attrs.sqrt, bias=bias,
                           out_shape=units.element_shape(layer.op_type))


OP = Op(
    name="layernorm",
    doc="I-ViT integer LayerNorm over the last axis, optional bias",
    fields=(
        Field("sqrt", "choice", default="exact", choices=("exact", "ivit"),
              doc="'exact': floor(isqrt); 'ivit': 10 Newton steps from 2**16"),
        Field("bias", "bool", default=False, doc="add an int32 bias per channel"),
    ),
    infer=infer,
    fold=row_fold,
    golden="LayerNorm",
    golden_args=lambda layer: {"bias": layer.params["bias"] if layer.attrs.bias else None,
                               "sqrt": layer.attrs.sqrt},
    hardware=hardware,
    cycles=element_rate,
    has_params=lambda attrs: attrs.bias,
    accumulator=True,
)
