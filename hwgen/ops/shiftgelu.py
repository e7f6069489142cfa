"""``shiftgelu``: I-ViT integer GELU ``x * sigmoid(1.702 x)`` with the shift-based exponent.

The exact algorithm is :func:`sw_reference.ivit.shiftgelu`; ``x0`` comes
from ``input_scale * 1.702``. Its output is the wide product ``p * sig``: a
requant (inline ``activation`` or the next layer) narrows it.
"""

from . import _random as rw
from ._op import Op, integer_input
from ._rows import X0, element_rate, need_rows, row_fold, x0_resolver
from ._tensor import TensorType

__all__ = ["OP"]

Q31 = (1 << 31) - 1


def infer(ctx, raw, in_types, in_moments):
    t, = in_types
    need_rows(ctx, raw, t, "a 1-D input [F] or rows [T, C]")
    # output = p * sig. sig = (e * (Q31 // S)) >> 24 <= 127 while S = min(e + em, Q31) >= e;
    # once S saturates (all-negative rows) the factor is 1 and sig = e >> 24 <= |x0| >> 1.
    sig = max(127, -raw.attrs.x0 >> 1)
    # Over the input's whole container, not its tighter range: the unit sizes its product
    # from its element shape, and the two must agree on the output type.
    lo, hi = _container(t)
    out = TensorType.of_range(t.shape, min(sig * lo, 0), max(sig * hi, 0))
    mo = in_moments[0].overall()
    return out, {}, rw.Moments(127 * (mo.mean / 2 + 0.4 * mo.std), 127 * 0.6 * mo.std)


def _container(t):
    full = TensorType.of_bits(t.shape, t.bits, t.signed)
    return full.lo, full.hi


def hardware(layer, source, in_shape, units, flattened_from=None):
    integer_input(layer, source)
    return units.ShiftGELU(in_shape=in_shape, length=source.shape[-1], simd=layer.pe,
                           x0=layer.attrs.x0, out_shape=units.element_shape(layer.op_type))


OP = Op(
    name="shiftgelu",
    doc="I-ViT integer GELU, x * sigmoid(1.702 x)",
    fields=X0,
    one_of=("x0", "input_scale"),
    resolve_attrs=x0_resolver(-Q31, "x0 must be above -2**31; use a larger input_scale",
                              factor=1.702),
    infer=infer,
    fold=row_fold,
    golden="ShiftGELU",
    golden_args=lambda layer: {"x0": layer.attrs.x0},
    hardware=hardware,
    cycles=element_rate,
    accumulator=True,
)
