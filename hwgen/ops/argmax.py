"""``argmax``: top-1 index over the last axis, lowest index on ties (FINN: LabelSelect)."""

from . import _random as rw
from ._op import FoldDims, Op
from ._tensor import TensorType

__all__ = ["OP"]


def infer(ctx, raw, in_types, in_moments):
    t, = in_types
    ctx.need_rank(raw, t, (1, 2), "a 1-D input [F] or rows [T, C]",
                  "insert {op: flatten} before it" if len(t.shape) == 3 else None)
    n = t.shape[-1]
    out = TensorType.of_range(t.shape[:-1], 0, n - 1)
    return out, {}, rw.Moments.uniform(0, n - 1)


def hardware(layer, source, in_shape, units, flattened_from=None):
    return units.LabelSelect(in_shape=in_shape, channels=source.shape[-1], pe=layer.pe)


OP = Op(
    name="argmax",
    doc="index of the largest element of the last axis (lowest on ties)",
    fields=(),
    infer=infer,
    fold=lambda attrs, in_types: FoldDims(("the last axis", in_types[0].shape[-1])),
    golden="ArgMax",
    golden_args=lambda layer: {},
    hardware=hardware,
    cycles=lambda layer, units: layer.in_types[0].size // layer.pe,
)
