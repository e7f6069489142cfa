"""``requant``: dyadic rescale ``y = clamp(round(x * m / 2**s) + zp, lo, hi)`` (HAWQ-V3).

Per tensor or, with ``per_channel: true``, per channel: ``<layer>.multiplier``
(1 <= m < 2**31), ``<layer>.shift`` (0 <= s < 64) and optional
``<layer>.zero_point``, each [channels] or [1]; ``lo``/``hi`` are the range
of ``bits`` (``signed``); ``rounding`` says how the division by ``2**s`` rounds. May be written inline as a layer's ``activation``.
"""

import numpy as np

from . import _random as rw
from ._dyadic import ROUNDING, check_dyadic
from ._field import Field
from ._op import FoldDims, Op, integer_input
from ._tensor import TensorType

__all__ = ["OP"]


def infer(ctx, raw, in_types, in_moments):
    t, = in_types
    ctx.need_rank(raw, t, (1, 2, 3), "a tensor (not a scalar)")
    out = TensorType.of_bits(t.shape, raw.attrs.bits, raw.attrs.signed)
    rows = t.channels if raw.attrs.per_channel else 1
    src = ctx.params
    if src.generated:
        rng = rw.rng_for(src.seed, raw.name)
        mom = in_moments[0] if raw.attrs.per_channel else in_moments[0].overall()
        m, s, zp = rw.requant(rng, rows, mom, out.lo, out.hi, out.signed,
                              xmax=max(abs(t.lo), abs(t.hi)))
    else:
        desc = "[channels] (per_channel: true)" if raw.attrs.per_channel else "[1] (per_channel: false)"
        m = src.get(raw, "multiplier", (rows,), desc)
        s = src.get(raw, "shift", (rows,), desc)
        zp = src.get(raw, "zero_point", (rows,), desc, required=False)
        if zp is None:
            zp = np.zeros(rows, dtype=np.int64)
    check_dyadic(ctx, raw, m, s, zp, out, [t])
    ratio = m / np.exp2(s.astype(np.float64))
    mom = in_moments[0]
    out_m = rw.Moments(np.asarray(mom.mean) * ratio + zp, np.asarray(mom.std) * ratio)
    out_m = rw.Moments(np.clip(out_m.mean, out.lo, out.hi),
                       np.minimum(out_m.std, (out.hi - out.lo) / 2))
    return out, {"multiplier": m, "shift": s, "zero_point": zp}, out_m


def hardware(layer, source, in_shape, units, flattened_from=None):
    integer_input(layer, source)
    return units.Requant(in_shape=in_shape, out_shape=units.element_shape(layer.out_type),
                         channels=source.channels, pe=layer.pe,
                         multiplier=layer.params["multiplier"].tolist(),
                         shift=layer.params["shift"].tolist(),
                         zero_point=layer.params["zero_point"].tolist(),
                         rounding=layer.attrs.rounding)


OP = Op(
    name="requant",
    doc="dyadic rescale to bits (signed), per tensor or per channel",
    fields=(
        Field("bits", "int", required=True, lo=2, hi=32, doc="output bits"),
        Field("signed", "bool", default=True, doc="signed output"),
        Field("per_channel", "bool", default=False, doc="one multiplier/shift per channel"),
        ROUNDING,
    ),
    infer=infer,
    fold=lambda attrs, in_types: FoldDims(("the channels", in_types[0].channels)),
    golden="Requant",
    golden_args=lambda layer: {"multiplier": layer.params["multiplier"],
                               "shift": layer.params["shift"],
                               "zero_point": layer.params["zero_point"],
                               "lo": layer.out_type.lo, "hi": layer.out_type.hi,
                               "channel_axis": layer.in_types[0].channel_axis,
                               "rounding": layer.attrs.rounding},
    hardware=hardware,
    cycles=lambda layer, units: layer.in_types[0].size // layer.pe,
    has_params=lambda attrs: True,
    activation=True,
)
