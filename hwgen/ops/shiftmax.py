"""``shiftmax``: I-ViT integer softmax over the last axis (shifts and one integer division).

The exact algorithm is :func:`sw_reference.ivit.shiftmax`. ``heads`` splits
the last axis into equal groups, each normalised on its own (the ``[M, H*R]``
scores of a multi-head ``matmul``); each group is a row for the hardware, so
``pe`` divides the group.
"""

from . import _random as rw
from ._field import Field, list_divisors
from ._op import FoldDims, Op, integer_input
from ._rows import X0, element_rate, need_rows, x0_resolver
from ._tensor import TensorType

__all__ = ["OP"]

#: exponentials are up to |x0| << 15 and must stay below 2**31 so that the output stays in
#: [0, 2**(out_bits-1) - 1]; the golden model takes any x0 > -2**31
X0_LIMIT = -((1 << 16) - 1)


def infer(ctx, raw, in_types, in_moments):
    t, = in_types
    need_rows(ctx, raw, t, "a 1-D input [F] or rows [T, C] (softmax over the last axis)")
    heads = raw.attrs.heads
    if t.shape[-1] % heads:
        raise ctx.shape_error(raw, f"heads ({heads}) must divide the last axis of the input "
                              f"({ctx.producer(raw)} is {t.describe()})",
                              "valid heads: " + list_divisors(t.shape[-1]), key="heads")
    ob = raw.attrs.out_bits
    # (e * ((2**31-1) // S)) >> (32 - out_bits) <= (2**31-1) >> (32 - out_bits) = 2**(out_bits-1) - 1
    out = TensorType(t.shape, ob, False, 0, (1 << (ob - 1)) - 1)
    group = t.shape[-1] // heads
    mean = (1 << (ob - 1)) / group
    return out, {}, rw.Moments(mean, mean)


def fold(attrs, in_types):
    """``pe`` divides each head's group of the last axis (a row of the unit)."""
    length = in_types[0].shape[-1]
    if attrs.heads == 1:
        return FoldDims(("the last axis", length))
    return FoldDims(("each head's part of the last axis", length // attrs.heads))


def hardware(layer, source, in_shape, units, flattened_from=None):
    integer_input(layer, source)
    return units.Shiftmax(in_shape=in_shape, length=source.shape[-1] // layer.attrs.heads,
                          simd=layer.pe, x0=layer.attrs.x0, out_bits=layer.attrs.out_bits)


OP = Op(
    name="shiftmax",
    doc="I-ViT integer softmax over the last axis (per head)",
    fields=X0 + (
        Field("out_bits", "int", default=8, lo=2, hi=16, doc="unsigned output bits"),
        Field("heads", "int", default=1, lo=1,
              doc="softmax separately over each of H equal groups of the last axis "
                  "(the heads of a matmul output [M, H*R])"),
    ),
    one_of=("x0", "input_scale"),
    resolve_attrs=x0_resolver(
        X0_LIMIT, "exponentials are up to |x0| << 15 and must stay below 2**31 so the row sum "
                  "normalises them; use input_scale >= 2**-16 (I-ViT's x0 is a few tens)"),
    infer=infer,
    fold=fold,
    golden="Shiftmax",
    golden_args=lambda layer: {"x0": layer.attrs.x0, "out_bits": layer.attrs.out_bits,
                               "heads": layer.attrs.heads},
    hardware=hardware,
    cycles=element_rate,
)
