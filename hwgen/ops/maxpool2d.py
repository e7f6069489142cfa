"""``maxpool2d``: k x k max pooling with stride k (FINN: StreamingMaxPool); an OR on binary data.

``kernel_size`` must divide the height and width (FINN's constraint: nothing
is silently dropped).
"""

import math

from . import _random as rw
from ._field import divisors
from ._mvu import size
from ._op import FoldDims, Op
from ._tensor import TensorType

__all__ = ["OP"]


def infer(ctx, raw, in_types, in_moments):
    t, = in_types
    ctx.need_rank(raw, t, (3,), "a [C, H, W] input")
    c, h, w = t.shape
    k = raw.attrs.kernel_size
    if h % k or w % k:
        common = divisors(math.gcd(h, w))
        raise ctx.shape_error(raw, f"kernel_size {k} must divide the input height and width "
                              f"({h}x{w}, {ctx.its_input(raw)} is {t.describe()}); "
                              "hwgen pools k x k windows with stride k and drops nothing",
                              "valid kernel_size: " + ", ".join(map(str, common)),
                              key="kernel_size")
    out = TensorType((c, h // k, w // k), t.bits, t.signed, t.lo, t.hi)
    return out, {}, rw.max_of(in_moments[0], k * k, t.lo, t.hi)


def hardware(layer, source, in_shape, units, flattened_from=None):
    c, h, w = source.shape
    return units.StreamingMaxPool(in_shape=in_shape, channels=c, height=h, width=w,
                                  kernel=layer.attrs.kernel_size, pe=layer.pe)


OP = Op(
    name="maxpool2d",
    doc="k x k max pooling, stride k",
    fields=(size("kernel_size", "pool window k x k, stride k"),),
    infer=infer,
    fold=lambda attrs, in_types: FoldDims(("the channels", in_types[0].channels)),
    golden="MaxPool2d",
    golden_args=lambda layer: {"kernel_size": layer.attrs.kernel_size},
    hardware=hardware,
    cycles=lambda layer, units: units[0].in_beats,
)
