"""``flatten``: PyTorch's flatten to one axis; no unit in hardware.

The stream keeps its HWC order through a ``flatten`` (docs/design/numbers.md):
the dense layer reading it permutes its weight columns instead
(``reads_flattened``), so the op has no hardware and folds nothing.
"""

from ._op import Op
from ._tensor import TensorType

__all__ = ["OP"]


def infer(ctx, raw, in_types, in_moments):
    t, = in_types
    ctx.need_rank(raw, t, (1, 2, 3), "a tensor (not a scalar)")
    return TensorType((t.size,), t.bits, t.signed, t.lo, t.hi), {}, in_moments[0]


OP = Op(
    name="flatten",
    doc="PyTorch flatten to [C*H*W]; a rewiring, no unit",
    fields=(),
    infer=infer,
    golden="Flatten",
    golden_args=lambda layer: {},
    hardware=None,
    cycles=lambda layer, units: 0,
    rewires=True,
)
