"""``add_const``: adds a constant tensor of the input's shape, ``y = x + values``.

A bias per element (``<layer>.values``, int32, the input's shape) where a dense layer's bias
is one per channel: a vision transformer's position embedding ``[tokens, channels]`` added to
the patch embedding's accumulators, before the requant that narrows them (an inline
``activation``).
"""

import numpy as np

from . import _random as rw
from ._op import FoldDims, Op, integer_input
from ._tensor import TensorType

__all__ = ["OP"]

#: |values| drawn for ``seed:`` networks stay below this (and int32)
_SEED_LIMIT = 1 << 20


def infer(ctx, raw, in_types, in_moments):
    t, = in_types
    ctx.need_rank(raw, t, (1, 2, 3), "a tensor (not a scalar)")
    src = ctx.params
    mom = in_moments[0].overall()
    if src.generated:
        rng = rw.rng_for(src.seed, raw.name)
        limit = int(min(max(float(mom.std), 1.0), _SEED_LIMIT))
        values = rng.integers(-limit, limit, size=t.shape, endpoint=True).astype(np.int64)
    else:
        values = src.get(raw, "values", tuple(t.shape), "[*the input's shape]")
    ctx.check_int32(raw, "values", values)
    out = TensorType.of_range(t.shape, t.lo + int(values.min()), t.hi + int(values.max()))
    out_m = rw.Moments(float(mom.mean) + float(values.mean()), float(mom.std))
    return out, {"values": values}, out_m


def stream_order(values):
    """``values`` flattened in stream order: row-major, a ``[C, H, W]`` map pixel by pixel
    (HWC, docs/design/numbers.md)."""
    values = np.asarray(values)
    if values.ndim == 3:
        values = values.transpose(1, 2, 0)
    return values.reshape(-1)


def hardware(layer, source, in_shape, units, flattened_from=None):
    integer_input(layer, source)
    return units.AddConst(in_shape=in_shape, out_shape=units.element_shape(layer.op_type),
                          values=stream_order(layer.params["values"]).tolist(), pe=layer.pe,
                          in_range=(source.lo, source.hi))


OP = Op(
    name="add_const",
    doc="adds a constant tensor of the input's shape (a position embedding)",
    fields=(),
    infer=infer,
    fold=lambda attrs, in_types: FoldDims(("the channels", in_types[0].channels)),
    golden="AddConst",
    golden_args=lambda layer: {"values": layer.params["values"]},
    hardware=hardware,
    cycles=lambda layer, units: layer.in_types[0].size // layer.pe,
    has_params=lambda attrs: True,
    accumulator=True,
)
